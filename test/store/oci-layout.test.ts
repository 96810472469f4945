// The layout store: round trips, failure and concurrency. What is on disk afterwards is what counts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { digestOfBytes, type Digest } from '../../src/digest/digest.js';
import { buildIndex } from '../../src/image/index.js';
import { rawFromJson } from '../../src/image/raw-manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { collectGarbage, removeOrphanStaging, removeOrphanTemps } from '../../src/store/gc.js';
import { LOCK_NAME, withLayoutLock } from '../../src/store/layout-lock.js';
import { initLayout, openLayout, readIndexJson, updateIndexJson } from '../../src/store/oci-layout.js';
import { pidNamespace, tempPathIn } from '../../src/internal/temp-path.js';
import { copyThrough, filesUnder, readBlob } from '../fixtures/store-fixtures.js';
import { randomImage, randomIndex, seededBytes, THREE_PLATFORMS } from '../helpers/images.js';
import { tempDir } from '../helpers/temp-dir.js';

async function blobFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'blobs', 'sha256'))).sort();
}

const emptyIndex = (note: string) => rawFromJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [], annotations: { note } }, MediaType.OciIndex);

describe('oci layout: round trips', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(() => dir.remove());

  for (const format of ['oci', 'docker'] as const) {
    test(`a ${format} index copied layout → layout keeps every manifest's bytes and every blob`, async () => {
      const source = await openLayout(join(dir.path, `${format}-a`), { create: true });
      const made = await randomIndex(source, THREE_PLATFORMS, { tag: '1.0', bytes: 4096, seed: format, format });
      // The writer's skeleton is exactly the spec's.
      assert.equal((await readFile(join(source.dir, 'oci-layout'))).toString(), '{"imageLayoutVersion":"1.0.0"}');
      const reader = await openLayout(source.dir);
      const target = await openLayout(join(dir.path, `${format}-b`), { create: true });
      await copyThrough(reader, '1.0', target, '1.0');
      const back = await openLayout(target.dir);
      assert.deepEqual((await back.getManifest('1.0')).bytes, made.index.bytes);
      assert.equal((await back.getManifest('1.0')).mediaType, made.index.mediaType);
      for (const image of made.images) {
        const child = await back.getManifest(image.manifest.digest);
        assert.deepEqual(child.bytes, image.manifest.bytes, 'a child is found by digest though index.json lists only the index');
        assert.deepEqual(await readBlob(back, { mediaType: image.config.mediaType, digest: image.config.digest, size: image.config.size }), image.config.bytes);
        for (const layer of image.layers) assert.deepEqual(await readBlob(back, layer.descriptor), layer.bytes);
      }
      const entries = (await readIndexJson(back.dir)).manifests;
      assert.deepEqual(entries, [{ mediaType: made.index.mediaType, digest: made.index.digest, size: made.index.size, annotations: { 'org.opencontainers.image.ref.name': '1.0' } }]);
      assert.deepEqual(await back.listTags(), ['1.0']);
      assert.equal((await back.resolve('latest'))?.digest, made.index.digest, 'a single entry answers for latest');
      assert.deepEqual((await filesUnder(back.dir)).filter((f) => f.includes('polyarch-tmp') || f.endsWith('.lock')), []);
    });
  }

  test('tags: a put replaces the tag, listTags is sorted, delete removes the entry but not the blobs', async () => {
    const layout = await openLayout(join(dir.path, 'tags'), { create: true });
    const one = await randomImage(layout, { platform: { os: 'linux', architecture: 'amd64' }, tag: 'b', seed: 'one' });
    const two = await randomImage(layout, { platform: { os: 'linux', architecture: 'amd64' }, tag: 'b', seed: 'two' });
    await layout.putManifest(one.manifest, { tag: 'a' });
    await layout.putManifest(one.manifest, { tag: 'c' });
    assert.deepEqual(await layout.listTags(), ['a', 'b', 'c']);
    assert.equal((await layout.resolve('b'))?.digest, two.manifest.digest);
    assert.equal((await readIndexJson(layout.dir)).manifests.length, 3);
    await layout.deleteManifest('b');
    assert.deepEqual(await layout.listTags(), ['a', 'c']);
    assert.equal(await layout.hasBlob(two.layers[0]!.descriptor), true, 'blobs stay until garbage collection');
    assert.deepEqual((await layout.getManifest(two.manifest.digest)).bytes, two.manifest.bytes);
    await layout.deleteManifest(one.manifest.digest);
    assert.deepEqual(await layout.listTags(), []);
    await assert.rejects(layout.deleteManifest('nope'), { code: 'MANIFEST_UNKNOWN' });
    await assert.rejects(layout.getManifest('a'), (e: Error & { code?: string }) => e.code === 'MANIFEST_UNKNOWN' && /"a"/.test(e.message));
  });

  test('an untagged top-level put is listed once; an index put later takes its children’s place', async () => {
    const layout = await openLayout(join(dir.path, 'untagged'), { create: true });
    const image = await randomImage(layout, { platform: { os: 'linux', architecture: 'arm64' }, seed: 'untagged' });
    await layout.putManifest(image.manifest);
    assert.deepEqual((await readIndexJson(layout.dir)).manifests, [{ mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size }]);
    assert.deepEqual(await layout.listTags(), []);
    assert.equal((await layout.resolve('latest'))?.digest, image.manifest.digest);
    const index = buildIndex([image.descriptor]);
    await layout.putManifest(index, { tag: 'v1' });
    assert.deepEqual(
      (await readIndexJson(layout.dir)).manifests.map((d) => d.digest),
      [index.digest],
      'the child is reachable through the index now',
    );
    // A tagged image stays listed even when an index over it is put.
    await layout.putManifest(image.manifest, { tag: 'arm64' });
    await layout.putManifest(buildIndex([image.descriptor], { annotations: { again: 'yes' } }));
    assert.deepEqual(await layout.listTags(), ['arm64', 'v1']);
  });

  test('index.json from buildx/docker (containerd names) is read, and its other fields are kept on update', async () => {
    const layout = await openLayout(join(dir.path, 'buildx'), { create: true });
    const a = await randomImage(layout, { platform: { os: 'linux', architecture: 'amd64' }, seed: 'bx-a' });
    const b = await randomImage(layout, { platform: { os: 'linux', architecture: 'arm64' }, seed: 'bx-b' });
    const d = (m: typeof a, annotations: Record<string, string>) => ({ mediaType: m.manifest.mediaType, digest: m.manifest.digest, size: m.manifest.size, annotations });
    const foreign = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        d(a, { 'io.containerd.image.name': 'docker.io/team/app:1.0', 'org.opencontainers.image.ref.name': '1.0' }),
        d(b, { 'io.containerd.image.name': 'registry.example/other:edge' }),
      ],
      annotations: { 'com.example.tool': 'kept' },
    };
    await writeFile(join(layout.dir, 'index.json'), JSON.stringify(foreign));
    assert.deepEqual(await layout.listTags(), ['1.0', 'edge']);
    assert.equal((await layout.resolve('edge'))?.digest, b.manifest.digest);
    assert.equal((await layout.resolve('team/app:1.0'))?.digest, a.manifest.digest, 'a full name matches the containerd name');
    assert.equal((await layout.resolve('registry.example/other:edge'))?.digest, b.manifest.digest);
    assert.equal(await layout.resolve('other:edge'), undefined, 'docker.io/library/other is another name');
    await layout.putManifest(a.manifest, { tag: 'edge' });
    const after = JSON.parse((await readFile(join(layout.dir, 'index.json'))).toString()) as typeof foreign;
    assert.deepEqual(after.annotations, { 'com.example.tool': 'kept' });
    assert.equal(after.manifests.length, 2, 'the containerd-named edge entry was replaced');
    assert.equal((await layout.resolve('edge'))?.digest, a.manifest.digest);
  });

  test('reading a layout that does not exist names the directory; a fresh writable one reads as empty', async () => {
    const missing = join(dir.path, 'nothing-here');
    await assert.rejects(openLayout(missing), (e: Error & { code?: string }) => e.code === 'LAYOUT_INVALID' && e.message.includes(missing) && /no such directory/.test(e.message));
    await mkdir(join(dir.path, 'plain'));
    await assert.rejects(openLayout(join(dir.path, 'plain')), (e: Error & { code?: string }) => e.code === 'LAYOUT_INVALID' && /no oci-layout file/.test(e.message));
    const fresh = await openLayout(join(dir.path, 'fresh'), { create: true });
    assert.deepEqual(await fresh.listTags(), []);
    await assert.rejects(fresh.getManifest('latest'), { code: 'MANIFEST_UNKNOWN' });
    assert.deepEqual(await filesUnder(join(dir.path, 'fresh')), [], 'nothing is created before the first write');
    const reader = await openLayout(join(dir.path, 'tags'));
    await assert.rejects(reader.putManifest(emptyIndex('x'), { tag: 'x' }), { code: 'USAGE' });
  });

  test('initLayout writes the skeleton once; index.json is written on the first write', async () => {
    const path = join(dir.path, 'init');
    await initLayout(path);
    await initLayout(path);
    assert.deepEqual(await filesUnder(path), ['index.json', 'oci-layout']);
    assert.deepEqual(JSON.parse((await readFile(join(path, 'index.json'))).toString()), { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
    const layout = await openLayout(join(dir.path, 'first-blob'), { create: true });
    const bytes = Buffer.from('a blob');
    await layout.putBlob({ mediaType: MediaType.OciLayer, digest: digestOfBytes(bytes), size: bytes.length }, Readable.from([bytes]));
    assert.deepEqual(await filesUnder(layout.dir), ['blobs/sha256/' + digestOfBytes(bytes).slice(7), 'index.json', 'oci-layout'], 'a valid layout from the first blob on');
  });

  test('a manifest asked for by the digest of a large blob is refused without reading it whole', async () => {
    const layout = await openLayout(join(dir.path, 'big'), { create: true });
    const bytes = seededBytes('big', 5 * 1024 * 1024);
    const descriptor = { mediaType: MediaType.OciLayer, digest: digestOfBytes(bytes), size: bytes.length };
    await layout.putBlob(descriptor, Readable.from([bytes]));
    await assert.rejects(layout.getManifest(descriptor.digest), { code: 'MANIFEST_INVALID' });
  });
});

describe('oci layout: failures leave nothing behind', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(() => dir.remove());

  test('a tampered blob stream: DIGEST_MISMATCH, no blob, no temp file, index.json unchanged byte for byte', async () => {
    const layout = await openLayout(join(dir.path, 'bad'), { create: true });
    await randomIndex(layout, THREE_PLATFORMS.slice(0, 2), { tag: 'keep', seed: 'tamper' });
    const good = seededBytes('good', 100_000);
    const evil = Buffer.from(good);
    evil.writeUInt8(0, 99_999);
    const indexBefore = await readFile(join(layout.dir, 'index.json'));
    const filesBefore = await filesUnder(layout.dir);
    const descriptor = { mediaType: MediaType.OciLayer, digest: digestOfBytes(good), size: good.length };
    await assert.rejects(layout.putBlob(descriptor, Readable.from([evil.subarray(0, 50_000), evil.subarray(50_000)])), { code: 'DIGEST_MISMATCH' });
    await assert.rejects(layout.putBlob(descriptor, Readable.from([good.subarray(0, 10)])), { code: 'SIZE_MISMATCH' });
    assert.deepEqual(await filesUnder(layout.dir), filesBefore, 'no blob and no temp file appeared');
    assert.deepEqual(await readFile(join(layout.dir, 'index.json')), indexBefore);
    assert.equal(await layout.hasBlob(descriptor), false);
    // A manifest whose bytes do not match its digest is refused before it is stored.
    const manifest = emptyIndex('m');
    await assert.rejects(layout.putManifest({ ...manifest, bytes: Buffer.from(manifest.bytes.toString().replace('"m"', '"n"')) }, { tag: 'x' }), { code: 'DIGEST_MISMATCH' });
    assert.deepEqual(await readFile(join(layout.dir, 'index.json')), indexBefore);
    assert.deepEqual(await filesUnder(layout.dir), filesBefore);
  });

  test('an aborted write leaves nothing behind', async () => {
    const layout = await openLayout(join(dir.path, 'abort'), { create: true });
    await layout.putManifest(emptyIndex('abort'), { tag: 'keep' });
    const indexBefore = await readFile(join(layout.dir, 'index.json'));
    const filesBefore = await filesUnder(layout.dir);
    const controller = new AbortController();
    const body = new Readable({ read() {} });
    body.push(seededBytes('abort', 1000));
    const writing = layout.putBlob({ mediaType: MediaType.OciLayer, digest: digestOfBytes(Buffer.from('x')), size: 1_000_000 }, body, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(writing, { name: 'AbortError' });
    assert.deepEqual(await filesUnder(layout.dir), filesBefore);
    assert.deepEqual(await readFile(join(layout.dir, 'index.json')), indexBefore);
  });

  test('a corrupted blob on disk is caught on read, before the end of the stream', async () => {
    const layout = await openLayout(join(dir.path, 'rot'), { create: true });
    const bytes = seededBytes('rot', 5000);
    const descriptor = { mediaType: MediaType.OciLayer, digest: digestOfBytes(bytes), size: bytes.length };
    await layout.putBlob(descriptor, Readable.from([bytes]));
    await writeFile(join(layout.dir, 'blobs', 'sha256', descriptor.digest.slice(7)), Buffer.concat([bytes.subarray(1), Buffer.from('!')]));
    let sawEnd = false;
    await assert.rejects(async () => {
      const stream = await layout.openBlob(descriptor);
      stream.on('end', () => (sawEnd = true));
      for await (const _ of stream) void _;
    }, { code: 'DIGEST_MISMATCH' });
    assert.equal(sawEnd, false, 'no clean end for bad content');
    // A manifest that rotted on disk is refused too.
    const manifest = emptyIndex('rot');
    await layout.putManifest(manifest, { tag: 'rot' });
    await writeFile(join(layout.dir, 'blobs', 'sha256', manifest.digest.slice(7)), manifest.bytes.toString().replace('rot', 'ROT'));
    await assert.rejects(layout.getManifest('rot'), { code: 'DIGEST_MISMATCH' });
    // trustOwnWrites skips the check only for a blob this handle wrote: another handle, or one that found the blob there, still checks.
    const reader = await openLayout(join(dir.path, 'rot'), { create: true });
    await reader.putBlob(descriptor, Readable.from([bytes])); // already there: not this handle's write
    await assert.rejects(async () => {
      for await (const _ of await reader.openBlob(descriptor, { trustOwnWrites: true })) void _;
    }, { code: 'DIGEST_MISMATCH' });
  });

  test('reading a blob can be aborted', async () => {
    const layout = await openLayout(join(dir.path, 'read-abort'), { create: true });
    const bytes = seededBytes('read-abort', 2_000_000);
    const descriptor = { mediaType: MediaType.OciLayer, digest: digestOfBytes(bytes), size: bytes.length };
    await layout.putBlob(descriptor, Readable.from([bytes]));
    const controller = new AbortController();
    const stream = await layout.openBlob(descriptor, { signal: controller.signal });
    await assert.rejects(async () => {
      for await (const _ of stream) {
        void _;
        controller.abort();
      }
    }, { name: 'AbortError' });
  });

  test('temp files of dead writers are cleared when a layout is opened for writing; a live writer’s are kept', async () => {
    const layout = join(dir.path, 'orphans');
    await initLayout(layout);
    const blobs = join(layout, 'blobs', 'sha256');
    const live = tempPathIn(blobs);
    const dead = join(blobs, '.tmp-999999-abcdef.polyarch-tmp');
    const deadRoot = join(layout, '.tmp-999998-abcdef.polyarch-tmp');
    await writeFile(live, 'x');
    await writeFile(dead, 'x');
    await writeFile(deadRoot, 'x');
    await openLayout(layout, { create: true });
    assert.deepEqual(await readdir(blobs), [live.slice(blobs.length + 1)]);
    assert.deepEqual((await readdir(layout)).sort(), ['blobs', 'index.json', 'oci-layout']);
    assert.equal(await removeOrphanTemps(layout), 0);
  });

  test('a temp file another PID namespace made (another container on a shared volume) is never taken for an orphan; one of this namespace is', async () => {
    const layout = join(dir.path, 'namespaces');
    await initLayout(layout);
    const ours = pidNamespace();
    assert.match(ours, /^\d+$/, 'Linux names the PID namespace');
    assert.match(tempPathIn(layout), new RegExp(`-${process.pid}n${ours}-[0-9a-f]+\\.polyarch-tmp$`));
    const elsewhere = `.tmp-999999n${Number(ours) + 1}-abcdef.polyarch-tmp`;
    const here = `.tmp-999999n${ours}-abcdef.polyarch-tmp`;
    await mkdir(join(layout, elsewhere));
    await writeFile(join(layout, here), 'x');
    assert.equal(await removeOrphanTemps(layout, { maxDepth: 0 }), 1);
    assert.deepEqual((await readdir(layout)).filter((n) => n.includes('polyarch-tmp')), [elsewhere]);
    assert.equal(await removeOrphanStaging(layout), 0, 'the other namespace’s staging stays');
  });
});

describe('oci layout: concurrent writers', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(() => dir.remove());

  test('many async writers: one copy of a blob, every tag kept in a valid index.json', async () => {
    const layout = await openLayout(join(dir.path, 'busy'), { create: true });
    const bytes = seededBytes('shared', 200_000);
    const descriptor = { mediaType: MediaType.OciLayer, digest: digestOfBytes(bytes), size: bytes.length };
    await Promise.all(Array.from({ length: 8 }, () => layout.putBlob(descriptor, Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]))));
    assert.deepEqual(await blobFiles(layout.dir), [descriptor.digest.slice(7)]);
    const tags = Array.from({ length: 20 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    // Two handles on one directory, as two commands in one process would have.
    const other = await openLayout(layout.dir, { create: true });
    await Promise.all(tags.map((tag, i) => (i % 2 ? layout : other).putManifest(emptyIndex(tag), { tag })));
    assert.deepEqual(await layout.listTags(), tags);
    assert.equal((await readIndexJson(layout.dir)).manifests.length, 20);
    assert.deepEqual((await readdir(layout.dir)).sort(), ['blobs', 'index.json', 'oci-layout'], 'no lock or temp file left');
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
      await Promise.all(Array.from({ length: 15 }, async (_, i) => {
        const tag = '${name}-' + String(i).padStart(2, '0');
        await layout.putManifest(rawFromJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [], annotations: { tag } }, 'application/vnd.oci.image.index.v1+json'), { tag });
      }));`;
    const run = (name: string) =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script(name)], { stdio: 'inherit' });
        child.on('error', reject);
        child.on('exit', (code) => resolve(code ?? -1));
      });
    assert.deepEqual(await Promise.all([run('a'), run('b'), run('c')]), [0, 0, 0]);
    const index = await readIndexJson(target);
    assert.equal(index.manifests.length, 45);
    assert.equal((await (await openLayout(target)).listTags()).length, 45);
  });

  test('the lock: a dead owner’s lock is broken, a live owner is waited for, with a clear error at the end', async () => {
    const layout = join(dir.path, 'lock');
    await initLayout(layout);
    const lock = join(layout, LOCK_NAME);
    await writeFile(lock, '999999'); // no such process
    await updateIndexJson(layout, (entries) => [...entries]);
    assert.deepEqual((await readdir(layout)).sort(), ['blobs', 'index.json', 'oci-layout']);

    await writeFile(lock, ''); // a writer that died between creating the lock and writing its pid
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    await withLayoutLock(layout, async () => undefined);
    assert.deepEqual((await readdir(layout)).sort(), ['blobs', 'index.json', 'oci-layout']);

    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await writeFile(lock, String(holder.pid));
      const indexBefore = await readFile(join(layout, 'index.json'));
      await assert.rejects(
        withLayoutLock(layout, async () => assert.fail('must not run'), { waitMs: 300 }),
        (e: Error & { code?: string }) => e.code === 'LAYOUT_INVALID' && e.message.includes(lock) && e.message.includes(`pid ${holder.pid}`),
      );
      assert.deepEqual(await readFile(join(layout, 'index.json')), indexBefore);
      // Released by its owner: the waiter gets it.
      const waiting = withLayoutLock(layout, async () => 'ran', { waitMs: 5_000 });
      await sleep(50);
      await rm(lock);
      assert.equal(await waiting, 'ran');
    } finally {
      holder.kill('SIGTERM');
    }
  });
});

describe('oci layout: garbage collection', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(() => dir.remove());

  test('blobs nothing in index.json reaches are removed; the rest stay', async () => {
    const layout = await openLayout(join(dir.path, 'gc'), { create: true });
    const kept = await randomIndex(layout, THREE_PLATFORMS, { tag: 'keep', seed: 'gc-keep' });
    const dropped = await randomImage(layout, { platform: { os: 'linux', architecture: 's390x' }, tag: 'drop', seed: 'gc-drop' });
    const stray = Buffer.from('stray');
    await layout.putBlob({ mediaType: MediaType.OciLayer, digest: digestOfBytes(stray), size: stray.length }, Readable.from([stray]));
    const before = await blobFiles(layout.dir);
    assert.equal((await collectGarbage(layout.dir)).removed, 1, 'only the stray blob is unreachable');
    await layout.deleteManifest('drop');
    const young = await collectGarbage(layout.dir, { keepNewerThanMs: 60_000 });
    assert.equal(young.removed, 0, 'recent blobs are kept for writers that have not tagged yet');
    const result = await collectGarbage(layout.dir);
    assert.equal(result.removed, 4, 'the dropped image’s manifest, config and two layers');
    const remaining = new Set(await blobFiles(layout.dir));
    const hex = (d: Digest | string): string => d.slice(7);
    for (const image of kept.images) {
      for (const d of [image.manifest.digest, image.config.digest, ...image.layers.map((l) => l.descriptor.digest)]) assert.ok(remaining.has(hex(d)));
    }
    assert.ok(remaining.has(hex(kept.index.digest)));
    assert.equal(remaining.has(hex(dropped.manifest.digest)), false);
    assert.equal(before.length - remaining.size, 1 + result.removed);
    const read = await openLayout(layout.dir);
    assert.deepEqual((await read.getManifest('keep')).bytes, kept.index.bytes);
  });

  test('a blob folder that is a link elsewhere is never followed: nothing where it points is removed', async () => {
    const path = join(dir.path, 'linked-folder');
    await initLayout(path);
    const outside = join(dir.path, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'a'.repeat(64)), 'someone else\'s file');
    await writeFile(join(outside, 'notes.txt'), 'someone else\'s notes');
    await rm(join(path, 'blobs', 'sha256'), { recursive: true, force: true });
    await symlink(outside, join(path, 'blobs', 'sha256'));
    const old = new Date(Date.now() - 3_600_000);
    for (const name of await readdir(outside)) await utimes(join(outside, name), old, old);
    assert.equal((await collectGarbage(path)).removed, 0);
    assert.deepEqual((await readdir(outside)).sort(), ['a'.repeat(64), 'notes.txt']);
  });

  test('without index.json nothing is removed', async () => {
    const path = join(dir.path, 'no-index');
    await mkdir(join(path, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(path, 'blobs', 'sha256', 'a'.repeat(64)), 'x');
    await assert.rejects(collectGarbage(path), { code: 'LAYOUT_INVALID' });
    assert.deepEqual(await blobFiles(path), ['a'.repeat(64)]);
  });
});
