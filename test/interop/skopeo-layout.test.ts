// Interop on disk with a tool we did not write: skopeo reads what polyarch's store writes to
// layouts and archives (byte for byte), and the store reads what skopeo wrote. Only store/ is
// used here, so a failure points at the on-disk formats.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { parseImageIndex } from '../../src/image/index.js';
import { parseImageManifest } from '../../src/image/manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { openDockerArchive } from '../../src/store/docker-archive.js';
import { LOCK_NAME } from '../../src/store/layout-lock.js';
import { openOciArchive } from '../../src/store/oci-archive.js';
import { openLayout, readIndexJson } from '../../src/store/oci-layout.js';
import { copyThrough, readBlob, type StoreEndpoint } from '../fixtures/store-fixtures.js';
import { randomIndex, THREE_PLATFORMS, type GeneratedIndex } from '../helpers/images.js';
import { tempDir } from '../helpers/temp-dir.js';

const SKOPEO = '/usr/bin/skopeo';
const exec = promisify(execFile);
const skopeo = async (...args: string[]): Promise<string> => (await exec(SKOPEO, args, { maxBuffer: 32 * 1024 * 1024 })).stdout;

/** Every manifest and blob under `reference` in `endpoint` equals what was generated. */
async function assertSameIndex(endpoint: StoreEndpoint, reference: string, made: GeneratedIndex): Promise<void> {
  assert.deepEqual((await endpoint.getManifest(reference)).bytes, made.index.bytes, `${endpoint.description}: the index bytes`);
  for (const image of made.images) {
    assert.deepEqual((await endpoint.getManifest(image.manifest.digest)).bytes, image.manifest.bytes);
    assert.deepEqual(await readBlob(endpoint, { mediaType: image.config.mediaType, digest: image.config.digest, size: image.config.size }), image.config.bytes);
    for (const layer of image.layers) assert.deepEqual(await readBlob(endpoint, layer.descriptor), layer.bytes);
  }
}

describe('skopeo and the polyarch store share layouts and archives', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let made: GeneratedIndex;
  let source: string;

  before(async () => {
    // A missing program is a failure, never a skip.
    if (spawnSync(SKOPEO, ['--version']).status !== 0) throw new Error(`${SKOPEO} is missing: install the Debian package skopeo (apt-get install skopeo)`);
    dir = await tempDir();
    source = join(dir.path, 'ours');
    // OCI media types: skopeo 1.9 ignores index.json entries of Docker types in a layout.
    made = await randomIndex(await openLayout(source, { create: true }), THREE_PLATFORMS, { tag: '1', bytes: 8192, seed: 'skopeo-layout' });
  });
  after(() => dir?.remove());

  test('skopeo reads polyarch’s layout byte for byte, with a temp file and the lock file lying in it', async () => {
    assert.equal(await skopeo('inspect', '--raw', `oci:${source}:1`), made.index.bytes.toString());
    await writeFile(join(source, 'blobs', 'sha256', '.tmp-999999-ab.polyarch-tmp'), 'partial');
    await writeFile(join(source, '.tmp-999999-cd.polyarch-tmp'), '{"partial":');
    await writeFile(join(source, LOCK_NAME), String(process.pid));
    try {
      assert.equal(await skopeo('inspect', '--raw', `oci:${source}:1`), made.index.bytes.toString());
      const config = JSON.parse(await skopeo('inspect', '--config', '--override-arch', 'arm64', '--override-variant', 'v8', `oci:${source}:1`)) as { architecture: string };
      assert.equal(config.architecture, 'arm64');
    } finally {
      // Left as a crashed writer would leave them; the next writer clears the temp files.
      await writeFile(join(source, LOCK_NAME), '999999');
    }
    await openLayout(source, { create: true });
    assert.deepEqual((await readdir(join(source, 'blobs', 'sha256'))).filter((n) => n.includes('polyarch-tmp')), []);
  });

  test('skopeo copy --all of polyarch’s layout is read back byte for byte; tags added by either side are kept', async () => {
    const theirs = join(dir.path, 'theirs');
    await skopeo('copy', '--all', `oci:${source}:1`, `oci:${theirs}:1`);
    await assertSameIndex(await openLayout(theirs), '1', made);
    // polyarch tags into the layout skopeo wrote; skopeo still reads both tags, and adds one.
    const layout = await openLayout(theirs, { create: true });
    await layout.putManifest(made.images[0]!.manifest, { tag: 'amd64' });
    assert.equal(await skopeo('inspect', '--raw', `oci:${theirs}:amd64`), made.images[0]!.manifest.bytes.toString());
    assert.equal(await skopeo('inspect', '--raw', `oci:${theirs}:1`), made.index.bytes.toString());
    await skopeo('copy', '--all', `oci:${source}:1`, `oci:${theirs}:2`);
    assert.deepEqual(await layout.listTags(), ['1', '2', 'amd64']);
    assert.equal((await readIndexJson(theirs)).manifests.length, 3);
  });

  test('the store reads skopeo’s docker-archive (legacy form): layers as stored, digests computed', async () => {
    const file = join(dir.path, 'skopeo-docker.tar');
    await skopeo('copy', '--override-arch', 'arm', '--override-variant', 'v7', `oci:${source}:1`, `docker-archive:${file}:team/app:arm`);
    const archive = await openDockerArchive(file);
    assert.deepEqual(await archive.listTags(), ['docker.io/team/app:arm'], 'RepoTags as skopeo wrote them');
    const raw = await archive.getManifest('team/app:arm');
    assert.equal(raw.mediaType, MediaType.DockerManifest);
    const manifest = parseImageManifest(raw);
    const arm = made.images[2]!;
    assert.equal(manifest.config.digest, arm.config.digest, 'the same config');
    assert.deepEqual(await readBlob(archive, manifest.config), arm.config.bytes);
    assert.equal(manifest.layers.length, arm.layers.length);
    for (const [i, layer] of manifest.layers.entries()) {
      // skopeo stores layers uncompressed, named by diffID.
      assert.equal(layer.mediaType, MediaType.DockerLayer);
      assert.equal(layer.digest, arm.layers[i]!.diffId);
      assert.deepEqual(await readBlob(archive, layer), gunzipSync(arm.layers[i]!.bytes));
    }
    assert.deepEqual((await archive.getManifest('docker.io/team/app:arm')).bytes, raw.bytes, 'any spelling of the name');
    assert.deepEqual((await archive.getManifest('latest')).bytes, raw.bytes, 'the only image answers for latest');
  });

  test('the store reads skopeo’s oci-archive byte for byte', async () => {
    const file = join(dir.path, 'skopeo-oci.tar');
    await skopeo('copy', '--all', `oci:${source}:1`, `oci-archive:${file}:1`);
    const archive = await openOciArchive(file);
    await assertSameIndex(archive, '1', made);
    assert.deepEqual(await archive.listTags(), ['1']);
  });

  test('skopeo reads polyarch’s oci-archive byte for byte', async () => {
    const file = join(dir.path, 'ours-oci.tar');
    const archive = await openOciArchive(file, { write: true });
    await copyThrough(await openLayout(source), '1', archive, '1');
    await archive.close();
    assert.equal(await skopeo('inspect', '--raw', `oci-archive:${file}:1`), made.index.bytes.toString());
    const back = join(dir.path, 'from-ours-oci');
    await skopeo('copy', '--all', `oci-archive:${file}:1`, `oci:${back}:1`);
    await assertSameIndex(await openLayout(back), '1', made);
  });

  test('skopeo reads polyarch’s docker-archive and copies it on', async () => {
    const file = join(dir.path, 'ours-docker.tar');
    const amd64 = made.images[0]!;
    const archive = await openDockerArchive(file, { write: true, reference: 'team/app:amd64' });
    await copyThrough(await openLayout(source), amd64.manifest.digest, archive, 'team/app:amd64');
    await archive.close();
    const seen = JSON.parse(await skopeo('inspect', `docker-archive:${file}`)) as { Architecture: string; Os: string; Layers: string[]; RepoTags?: string[] };
    assert.equal(seen.Architecture, 'amd64');
    assert.equal(seen.Os, 'linux');
    assert.equal(seen.Layers.length, amd64.layers.length);
    const back = join(dir.path, 'skopeo-from-ours');
    await skopeo('copy', `docker-archive:${file}:team/app:amd64`, `oci:${back}:x`);
    const layout = await openLayout(back);
    const manifest = parseImageManifest(await layout.getManifest('x'));
    // skopeo rewrites the manifest and config on the way to OCI, so compare the layer bytes.
    assert.equal(manifest.layers.length, amd64.layers.length);
    for (const [i, layer] of manifest.layers.entries()) {
      const bytes = await readBlob(layout, layer);
      const ours = amd64.layers[i]!;
      assert.ok(bytes.equals(ours.bytes) || gunzipSync(bytes).equals(gunzipSync(ours.bytes)), `layer ${i} carries the same files`);
    }
    // And the index skopeo would see in the OCI part of the archive is ours.
    const reread = await openDockerArchive(file);
    assert.deepEqual((await reread.getManifest('team/app:amd64')).bytes, amd64.manifest.bytes);
    assert.equal(parseImageIndex(made.index).manifests[0]!.digest, amd64.manifest.digest);
  });
});
