// The layout store under failure and concurrency: what is on disk afterwards is what counts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { digestOfBytes } from '../../src/digest/digest.js';
import { rawFromJson } from '../../src/image/raw-manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { openLayout, readIndexJson } from '../../src/store/oci-layout.js';
import { removeOrphanTemps } from '../../src/store/gc.js';
import { tempPathIn } from '../../src/internal/temp-path.js';
import { seededBytes } from '../helpers/images.js';
import { tempDir } from '../helpers/temp-dir.js';

async function blobFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'blobs', 'sha256'))).sort();
}

describe('oci layout store', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(() => dir.remove());

  test('a stream that ends with the wrong bytes leaves no blob and no temp file', async () => {
    const layout = await openLayout(join(dir.path, 'bad'), { create: true });
    const good = seededBytes('good', 100_000);
    const evil = Buffer.from(good);
    evil.writeUInt8(0, 99_999);
    await layout.putManifest(rawFromJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }, MediaType.OciIndex), { tag: 'keep' });
    const indexBefore = await readFile(join(layout.dir, 'index.json'));
    const filesBefore = await blobFiles(layout.dir);
    const descriptor = { mediaType: MediaType.OciLayer, digest: digestOfBytes(good), size: good.length };
    await assert.rejects(layout.putBlob(descriptor, Readable.from([evil.subarray(0, 50_000), evil.subarray(50_000)])), { code: 'DIGEST_MISMATCH' });
    await assert.rejects(layout.putBlob(descriptor, Readable.from([good.subarray(0, 10)])), { code: 'SIZE_MISMATCH' });
    assert.deepEqual(await blobFiles(layout.dir), filesBefore, 'no blob and no temp file appeared');
    assert.deepEqual(await readFile(join(layout.dir, 'index.json')), indexBefore);
    assert.equal(await layout.hasBlob(descriptor), false);
  });

  test('an aborted write leaves nothing behind', async () => {
    const layout = await openLayout(join(dir.path, 'abort'), { create: true });
    const controller = new AbortController();
    const body = new Readable({ read() {} });
    body.push(seededBytes('abort', 1000));
    const writing = layout.putBlob({ mediaType: MediaType.OciLayer, digest: digestOfBytes(Buffer.from('x')), size: 1_000_000 }, body, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(writing, { name: 'AbortError' });
    assert.deepEqual(await blobFiles(layout.dir), []);
  });

  test('a corrupted blob on disk is caught on read, before the end of the stream', async () => {
    const layout = await openLayout(join(dir.path, 'rot'), { create: true });
    const bytes = seededBytes('rot', 5000);
    const descriptor = { mediaType: MediaType.OciLayer, digest: digestOfBytes(bytes), size: bytes.length };
    await layout.putBlob(descriptor, Readable.from([bytes]));
    await writeFile(join(layout.dir, 'blobs', 'sha256', descriptor.digest.slice(7)), Buffer.concat([bytes.subarray(1), Buffer.from('!')]));
    await assert.rejects(async () => {
      for await (const _ of await layout.openBlob(descriptor)) void _;
    }, { code: 'DIGEST_MISMATCH' });
  });

  test('concurrent writers: one copy of a blob, every tag kept in a valid index.json', async () => {
    const layout = await openLayout(join(dir.path, 'busy'), { create: true });
    const bytes = seededBytes('shared', 200_000);
    const descriptor = { mediaType: MediaType.OciLayer, digest: digestOfBytes(bytes), size: bytes.length };
    await Promise.all(Array.from({ length: 8 }, () => layout.putBlob(descriptor, Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]))));
    assert.deepEqual(await blobFiles(layout.dir), [descriptor.digest.slice(7)]);
    const tags = Array.from({ length: 20 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    await Promise.all(tags.map((tag) => layout.putManifest(rawFromJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [], annotations: { tag } }, MediaType.OciIndex), { tag })));
    assert.deepEqual(await layout.listTags(), tags);
  });

  test('two processes tagging the same layout both land', async () => {
    const target = join(dir.path, 'procs');
    await openLayout(target, { create: true });
    const storeModule = new URL('../../src/store/oci-layout.js', import.meta.url).href;
    const rawModule = new URL('../../src/image/raw-manifest.js', import.meta.url).href;
    const script = (name: string): string => `
      const { openLayout } = await import(${JSON.stringify(storeModule)});
      const { rawFromJson } = await import(${JSON.stringify(rawModule)});
      const layout = await openLayout(${JSON.stringify(target)}, { create: true });
      for (let i = 0; i < 15; i++) {
        const tag = '${name}-' + String(i).padStart(2, '0');
        await layout.putManifest(rawFromJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [], annotations: { tag } }, 'application/vnd.oci.image.index.v1+json'), { tag });
      }`;
    const run = (name: string) =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script(name)], { stdio: 'inherit' });
        child.on('error', reject);
        child.on('exit', (code) => resolve(code ?? -1));
      });
    assert.deepEqual(await Promise.all([run('a'), run('b')]), [0, 0]);
    const index = await readIndexJson(target);
    assert.equal(index.manifests.length, 30);
  });

  test('temp files of dead writers are cleared; a live writer’s are kept', async () => {
    const layout = join(dir.path, 'orphans');
    await openLayout(layout, { create: true });
    const blobs = join(layout, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const live = tempPathIn(blobs);
    const dead = join(blobs, '.tmp-999999-abcdef.polyarch-tmp');
    await writeFile(live, 'x');
    await writeFile(dead, 'x');
    assert.equal(await removeOrphanTemps(layout), 1);
    assert.deepEqual((await readdir(blobs)).length, 1);
  });

  test('reading a directory that is not a layout is one clear error', async () => {
    await assert.rejects(openLayout(join(dir.path, 'nothing-here')), (e: Error & { code?: string }) => e.code === 'LAYOUT_INVALID' && /not an OCI image layout/.test(e.message));
  });
});
