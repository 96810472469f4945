// Layers unpacked on a worker thread (16 MiB and more) must leave exactly what the main thread's
// unpack leaves, fail as it fails, and stop writing when the read fails or the work is interrupted.
import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { digestOfBytes } from '../../src/digest/digest.js';
import type { LayerPathEntry } from '../../src/layer/scan.js';
import { materializeLayers } from '../../src/layer/materialize.js';
import { WORKER_FROM, materializeLayersInWorker } from '../../src/layer/unpack-in-worker.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { tarOf, type TarEntry } from '../helpers/tar.js';
import { tempDir } from '../helpers/temp-dir.js';

const isRoot = process.getuid?.() === 0;
const BIG = WORKER_FROM + 1024 * 1024;

interface Layer {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly bytes: Buffer;
}

/** A layer of `entries` (tarOf: exact names, types and links), with its digest and size. */
async function layerOf(entries: readonly TarEntry[]): Promise<Layer> {
  const bytes = await tarOf(entries.map((e) => ({ mtime: new Date(1_600_000_000_000), ...e })));
  return { mediaType: MediaType.OciLayer, digest: digestOfBytes(bytes), size: bytes.length, bytes };
}

/** The layer's bytes in 64 KiB pieces, as a read from a registry or the cache gives them. */
const inPieces = async (layer: Layer) => Readable.from((function* () {
  for (let at = 0; at < layer.bytes.length; at += 65536) yield layer.bytes.subarray(at, at + 65536);
})());

/** Every path below `dir`: type, mode, owner, and a file's size and time or a link's target and time (a directory's time is the unpack's once a later layer deletes in it). */
async function tree(dir: string, rel = '', out = new Map<string, string>()): Promise<Map<string, string>> {
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const path = rel === '' ? name : `${rel}/${name}`;
    const s = await lstat(join(dir, path));
    const what = s.isSymbolicLink() ? `link ${await readlink(join(dir, path))}` : s.isDirectory() ? 'dir' : `file ${s.size} links ${s.nlink}`;
    out.set(path, `${what} mode ${(s.mode & 0o7777).toString(8)} owner ${s.uid}:${s.gid}${s.isDirectory() ? '' : ` mtime ${s.mtimeMs}`}`);
    if (s.isDirectory()) await tree(dir, path, out);
  }
  return out;
}

describe('layers unpacked on a worker thread', { timeout: 120_000 }, () => {
  let work: { path: string; remove(): Promise<void> };
  let lower: Layer;
  let upper: Layer;

  before(async () => {
    work = await tempDir();
    lower = await layerOf([
      { name: 'etc', type: 'directory', mode: 0o750, uid: 7, gid: 8 },
      { name: 'etc/big', content: Buffer.alloc(BIG, 'x') },
      { name: 'etc/tool', mode: 0o4755, uid: 1000, gid: 1000, content: '#!/bin/sh\n' },
      { name: 'etc/hard', type: 'link', linkname: 'etc/tool', mode: 0o4755, uid: 1000, gid: 1000 },
      { name: 'etc/soft', type: 'symlink', linkname: 'tool' },
      { name: 'etc/gone', content: 'removed above\n' },
      { name: 'opt/old', content: 'hidden by an opaque directory\n' },
    ]);
    upper = await layerOf([
      { name: 'etc/.wh.gone', content: '' },
      { name: 'opt', type: 'directory', mode: 0o700 },
      { name: 'opt/.wh..wh..opq', content: '' },
      { name: 'opt/new', content: 'new\n' },
    ]);
  });
  after(() => work.remove());

  test('leave the same tree, facts and path lists as the main thread\'s unpack', async () => {
    const results = [];
    for (const [name, materialize] of [['main', materializeLayers], ['worker', materializeLayersInWorker]] as const) {
      const root = join(work.path, `same-${name}`);
      await mkdir(root);
      const paths: [string, [string, LayerPathEntry][]][] = [];
      const recorded = await materialize(root, [lower, upper], inPieces, { onLayerPaths: async (layer, list) => void paths.push([layer.digest, list]) });
      results.push({ tree: await tree(root), recorded: [...recorded].sort(), paths });
    }
    const [main, worker] = results;
    assert.deepEqual(worker!.tree, main!.tree);
    assert.deepEqual(worker!.recorded, main!.recorded);
    assert.deepEqual(worker!.paths, main!.paths);
    // And that tree is the layers': a check that both did not go wrong alike.
    const got = worker!.tree;
    assert.equal(got.has('etc/gone'), false);
    assert.equal(got.has('opt/old'), false);
    assert.match(got.get('etc/big')!, new RegExp(`^file ${BIG} `));
    assert.match(got.get('etc/tool')!, /^file 10 links 2 /);
    assert.match(got.get('etc/soft')!, /^link tool /);
    assert.match(got.get('opt')!, /^dir mode 700 /);
    assert.match(got.get('etc/tool')!, / mtime 1600000000000$/);
    if (isRoot) assert.match(got.get('etc/tool')!, / mode 4755 owner 1000:1000 /);
  });

  test('a hostile entry fails the layer with LAYOUT_INVALID from the thread, and nothing outside the root is written', async () => {
    const outside = join(work.path, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'host\n');
    const hostile = await layerOf([
      { name: 'big', content: Buffer.alloc(BIG, 'y') },
      { name: 'out', type: 'symlink', linkname: outside },
      { name: 'out/secret', content: 'planted\n' },
      { name: '../climbed', content: 'planted\n' },
    ]);
    const root = join(work.path, 'hostile-root');
    await mkdir(root);
    await assert.rejects(materializeLayersInWorker(root, [hostile], inPieces), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'LAYOUT_INVALID');
      assert.match(error.message, /\.\.\/climbed/);
      return true;
    });
    assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'host\n');
    assert.deepEqual(await readdir(outside), ['secret']);
    assert.deepEqual((await readdir(work.path)).filter((n) => n === 'climbed'), []);
  });

  test('a read that fails mid-layer fails with its own error, and the thread writes nothing after', async () => {
    const root = join(work.path, 'cut-root');
    await mkdir(root);
    const cut = async (layer: Layer) => Readable.from((async function* () {
      yield layer.bytes.subarray(0, 9 * 1024 * 1024);
      throw new Error('the connection was cut');
    })());
    await assert.rejects(materializeLayersInWorker(root, [lower], cut), /the connection was cut/);
    const settled = await tree(root);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(await tree(root), settled);
  });

  test('an interrupted unpack rejects as interrupted, and the thread writes nothing after', async () => {
    const root = join(work.path, 'abort-root');
    await mkdir(root);
    const controller = new AbortController();
    const slow = async (layer: Layer) => Readable.from((async function* () {
      for (let at = 0; at < layer.bytes.length; at += 1024 * 1024) {
        if (at === 4 * 1024 * 1024) controller.abort(new Error('interrupted'));
        yield layer.bytes.subarray(at, at + 1024 * 1024);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })());
    await assert.rejects(materializeLayersInWorker(root, [lower], slow, { signal: controller.signal }), /interrupted/);
    const settled = await tree(root);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(await tree(root), settled);
    assert.equal(settled.has('etc/tool'), false, 'the layer was not finished after the interruption');
  });
});
