// Interop on disk with a client we did not write: skopeo reads what polyarch wrote to layouts
// and archives, and polyarch reads what skopeo wrote (byte-identical manifests).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { copy } from '../../src/ops/copy.js';
import { inspect } from '../../src/ops/inspect.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { randomIndex, THREE_PLATFORMS, type GeneratedIndex } from '../helpers/images.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);
const skopeo = async (...args: string[]): Promise<string> => (await exec('skopeo', args, { maxBuffer: 32 * 1024 * 1024 })).stdout;

describe('skopeo and polyarch share layouts and archives', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let made: GeneratedIndex;
  let source: string;

  before(async () => {
    dir = await tempDir();
    source = join(dir.path, 'ours');
    // OCI media types: skopeo 1.9 ignores index.json entries of Docker types in a layout.
    made = await randomIndex(await openLayout(source, { create: true }), THREE_PLATFORMS, { tag: '1', bytes: 8192, seed: 'skopeo-layout' });
  });
  after(() => dir.remove());

  test('skopeo reads polyarch’s layout, byte for byte, even with a temp file lying in it', async () => {
    await writeFile(join(source, 'blobs', 'sha256', '.tmp-1-ab.polyarch-tmp'), 'partial');
    assert.equal(await skopeo('inspect', '--raw', `oci:${source}:1`), made.index.bytes.toString());
    const theirs = join(dir.path, 'theirs');
    await skopeo('copy', '--all', `oci:${source}:1`, `oci:${theirs}:1`);
    const read = await inspect(`oci:${theirs}:1`);
    assert.equal(read.raw.digest, made.index.digest);
  });

  test('polyarch reads skopeo’s docker-archive (legacy form) and oci-archive', async () => {
    const docker = join(dir.path, 'skopeo-docker.tar');
    await skopeo('copy', '--override-arch', 'arm', '--override-variant', 'v7', `oci:${source}:1`, `docker-archive:${docker}:team/app:arm`);
    const image = await inspect(`docker-archive:${docker}:team/app:arm`);
    assert.equal(image.kind, 'image');
    if (image.kind !== 'image') return;
    assert.equal(image.platform?.architecture, 'arm');
    assert.equal(image.config.digest, made.images[2]!.config.digest, 'the same config');
    // The made-up manifest's layers (uncompressed, as docker save stores them) copy on and verify.
    const out = await copy(`docker-archive:${docker}`, `oci:${join(dir.path, 'from-skopeo-docker')}:arm`);
    assert.equal(out.descriptor.digest, image.descriptor.digest);

    const archive = join(dir.path, 'skopeo-oci.tar');
    await skopeo('copy', '--all', `oci:${source}:1`, `oci-archive:${archive}:1`);
    assert.equal((await inspect(`oci-archive:${archive}:1`)).raw.digest, made.index.digest);
  });

  test('skopeo reads polyarch’s oci-archive and docker-archive', async () => {
    const archive = join(dir.path, 'ours-oci.tar');
    await copy(`oci:${source}:1`, `oci-archive:${archive}:1`);
    assert.equal(await skopeo('inspect', '--raw', `oci-archive:${archive}:1`), made.index.bytes.toString());

    const docker = join(dir.path, 'ours-docker.tar');
    await copy(`oci:${source}:1`, `docker-archive:${docker}:team/app:amd64`, { platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const seen = JSON.parse(await skopeo('inspect', `docker-archive:${docker}`)) as { Architecture: string; Layers: string[] };
    assert.equal(seen.Architecture, 'amd64');
    const back = join(dir.path, 'skopeo-from-ours');
    await skopeo('copy', `docker-archive:${docker}`, `oci:${back}:x`);
    const read = await inspect(`oci:${back}:x`);
    assert.equal(read.kind, 'image');
    // skopeo rewrites the config on the way to OCI, so compare what it says, not its digest.
    if (read.kind === 'image') {
      assert.equal(read.platform?.architecture, 'amd64');
      assert.equal(read.layers.length, made.images[0]!.layers.length);
    }
  });
});
