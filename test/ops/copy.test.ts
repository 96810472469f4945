// copyImage over layouts and archives (no network): filtering, skipping, and what is left on
// disk when the source turns out to be corrupt.
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { copy, copyImage } from '../../src/ops/copy.js';
import { inspect } from '../../src/ops/inspect.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { randomIndex, THREE_PLATFORMS, type GeneratedIndex } from '../helpers/images.js';
import { tempDir } from '../helpers/temp-dir.js';

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

describe('copyImage between layouts', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let source: string;
  let made: GeneratedIndex;

  before(async () => {
    dir = await tempDir();
    source = join(dir.path, 'source');
    made = await randomIndex(await openLayout(source, { create: true }), THREE_PLATFORMS, { tag: 'v1', bytes: 4096, seed: 'ops' });
  });
  after(() => dir.remove());

  test('a whole index keeps its bytes; a second copy moves nothing', async () => {
    const target = `oci:${join(dir.path, 'whole')}:v1`;
    const first = await copy({ source: `oci:${source}:v1`, destination: target });
    assert.equal(first.descriptor.digest, made.index.digest);
    assert.equal(first.manifests, 4);
    assert.equal(first.blobsCopied, 9, '3 configs and 6 layers');
    const second = await copy({ source: `oci:${source}:v1`, destination: target });
    assert.equal(second.blobsCopied, 0);
    assert.equal(second.blobsSkipped, 9);
    const shown = await inspect({ location: target });
    assert.equal(shown.kind, 'index');
    assert.equal(shown.raw.bytes.toString(), made.index.bytes.toString());
  });

  test('a platform subset gives a smaller index whose entries all exist', async () => {
    const target = join(dir.path, 'subset');
    const result = await copy({ source: `oci:${source}:v1`, destination: `oci:${target}:v1`, platforms: [parsePlatform('linux/arm/v7'), parsePlatform('linux/amd64')] });
    assert.notEqual(result.descriptor.digest, made.index.digest);
    const shown = await inspect({ location: `oci:${target}:v1`, verbose: true });
    assert.equal(shown.kind, 'index');
    if (shown.kind !== 'index') return;
    // Index order is kept, whatever order the platforms were asked in.
    assert.deepEqual(shown.entries.map((e) => e.platform?.architecture), ['amd64', 'arm']);
    assert.deepEqual(shown.entries.map((e) => e.image?.config.digest), [made.images[0]!.config.digest, made.images[2]!.config.digest]);
    const blobs = await readdir(join(target, 'blobs', 'sha256'));
    assert.ok(!blobs.includes(made.images[1]!.layers[0]!.descriptor.digest.slice(7)), 'the arm64 layers were not copied');
  });

  test('a tampered source blob fails the copy and leaves the destination as it was', async () => {
    const tampered = join(dir.path, 'tampered');
    await copy({ source: `oci:${source}:v1`, destination: `oci:${tampered}:v1` });
    const victim = made.images[2]!.layers[1]!.descriptor.digest.slice(7);
    const blobPath = join(tampered, 'blobs', 'sha256', victim);
    const bytes = await readFile(blobPath);
    bytes.writeUInt8((bytes.readUInt8(bytes.length - 10) ^ 0xff) & 0xff, bytes.length - 10);
    await writeFile(blobPath, bytes);

    const target = join(dir.path, 'after-tamper');
    await copy({ source: `oci:${source}:v1`, destination: `oci:${target}:old`, platforms: [parsePlatform('linux/amd64')] });
    const indexBefore = await readFile(join(target, 'index.json'));
    await assert.rejects(
      copyImage({ source: await openLayout(tampered), sourceReference: 'v1', destination: await openLayout(target, { create: true }), destinationReference: 'v1' }),
      (e: Error & { code?: string }) => e.code === 'DIGEST_MISMATCH' && e.message.includes(victim.slice(0, 12)),
    );
    assert.deepEqual(await readFile(join(target, 'index.json')), indexBefore, 'index.json unchanged');
    const files = await filesUnder(target);
    assert.ok(!files.some((f) => f.endsWith(victim)), 'no corrupt blob stored');
    assert.ok(!files.some((f) => basename(f).includes('tmp')), `no temp file left: ${files.join(', ')}`);
  });

  test('oci-archive and docker-archive round trips keep the digests', async () => {
    const archive = join(dir.path, 'all.tar');
    await copy({ source: `oci:${source}:v1`, destination: `oci-archive:${archive}:v1` });
    const back = await copy({ source: `oci-archive:${archive}:v1`, destination: `oci:${join(dir.path, 'from-archive')}:v1` });
    assert.equal(back.descriptor.digest, made.index.digest);

    const docker = join(dir.path, 'arm.tar');
    const one = await copy({ source: `oci:${source}:v1`, destination: `docker-archive:${docker}:team/app:arm`, platforms: [parsePlatform('linux/arm/v7')] });
    assert.equal(one.descriptor.digest, made.images[2]!.manifest.digest);
    const read = await copy({ source: `docker-archive:${docker}:team/app:arm`, destination: `oci:${join(dir.path, 'from-docker')}:arm` });
    assert.equal(read.descriptor.digest, made.images[2]!.manifest.digest);
  });
});
