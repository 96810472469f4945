// Unpacking layers for overlay mounts as a way in: each layer is applied onto an overlay of the
// ones below it, and the directory it leaves is stacked under later steps, so a layer that could
// write overlayfs's own metadata would forge deletions or redirect lookups. Whiteouts whose names
// climb out or pass through links, 0/0 character devices (overlay's whiteouts) and the
// `trusted.overlay.*` / `user.overlay.*` attributes (opaque, redirect, metacopy) are refused or
// dropped, nothing outside the cache changes, and prune detaches a leftover mount before deleting.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, lstat, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { pack, type Header } from 'tar-stream';
import { pruneBuildCache } from '../../src/builder/cache/build-cache.js';
import { digestOfBytes } from '../../src/digest/digest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { mountOverlay, mountsUnder, unmountAllUnder } from '../../src/layer/overlay-mount.js';
import { UNPACKED_DIR, UnpackedLayers, pruneUnpacked } from '../../src/layer/unpacked-store.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;

interface Entry {
  readonly header: Partial<Header> & { readonly name: string };
  readonly body?: string;
}

/** A layer tar of exactly these headers (pax records included) and bodies. */
async function layerOf(entries: readonly Entry[]): Promise<{ mediaType: string; digest: string; bytes: Buffer }> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => tar.on('end', () => resolve()));
  for (const e of entries) {
    const body = e.body === undefined ? undefined : Buffer.from(e.body);
    const header = { ...e.header, mode: e.header.mode ?? (e.header.type === 'directory' ? 0o755 : 0o644), mtime: e.header.mtime ?? new Date(0), ...(body ? { size: body.length } : {}) };
    await new Promise<void>((resolve, reject) => {
      const callback = (error?: Error | null) => (error ? reject(error) : resolve());
      if (body) tar.entry(header, body, callback);
      else tar.entry(header, callback);
    });
  }
  tar.finalize();
  await done;
  const bytes = Buffer.concat(chunks);
  return { mediaType: MediaType.OciLayer, digest: digestOfBytes(bytes), bytes };
}

const open = async (layer: { bytes: Buffer }) => Readable.from([layer.bytes]);

/** Every path below `dir` with its type and, for files, its text. */
async function listing(dir: string, rel = '', out = new Map<string, string>()): Promise<Map<string, string>> {
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const path = rel === '' ? name : `${rel}/${name}`;
    const s = await lstat(join(dir, path));
    out.set(path, s.isFile() ? `file ${await readFile(join(dir, path), 'utf8')}` : s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'link' : `other ${s.mode.toString(8)}`);
    if (s.isDirectory()) await listing(dir, path, out);
  }
  return out;
}

/** Every extended attribute name below `dir` (getfattr -R). */
async function xattrNames(dir: string): Promise<string[]> {
  const out = await exec('getfattr', ['-R', '-h', '-d', '-m', '-', '--absolute-names', dir]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  return out.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split('=')[0]!);
}

describe('overlay layer store', { timeout: 120_000, skip: isRoot ? false : 'overlay mounts need root' }, () => {
  let work: { path: string; remove(): Promise<void> };
  let victim = '';
  let cache = '';
  let victimBefore = new Map<string, string>();

  before(async () => {
    work = await tempDir();
    victim = join(work.path, 'host');
    await mkdir(join(victim, 'sub'), { recursive: true });
    await writeFile(join(victim, 'secret'), 'host secret\n');
    await writeFile(join(victim, 'sub', 'file'), 'host file\n');
    cache = join(work.path, 'cache');
    await mkdir(cache);
    victimBefore = await listing(victim);
  });
  after(async () => {
    await unmountAllUnder(work.path);
    await work.remove();
  });

  // The bottom layer: a directory with a file, and links to the host directory (absolute and climbing).
  const bottom = () =>
    layerOf([
      { header: { name: 'd', type: 'directory' } },
      { header: { name: 'd/keep', type: 'file' }, body: 'kept\n' },
      { header: { name: 'etc', type: 'directory' } },
      { header: { name: 'etc/passwd', type: 'file' }, body: 'root:x:0:0::/root:/bin/sh\n' },
      { header: { name: 'abs', type: 'symlink', linkname: victim } },
      { header: { name: 'climb', type: 'symlink', linkname: `${'../'.repeat(20)}${victim.slice(1)}` } },
    ]);

  test('whiteouts that climb out or pass through links to the host remove nothing outside', async () => {
    const store = new UnpackedLayers(cache);
    const base = await bottom();
    const climbing = await layerOf([{ header: { name: '../.wh.secret', type: 'file' }, body: '' }]);
    await assert.rejects(store.lowers([base, climbing], open), (error: Error & { code?: string }) => error.code === 'LAYOUT_INVALID');
    for (const name of ['abs/.wh.secret', 'climb/.wh.secret', 'abs/sub/.wh..wh..opq', 'climb/.wh.sub']) {
      const through = await layerOf([{ header: { name, type: 'file' }, body: '' }]);
      await store.lowers([base, through], open).catch(() => undefined);
    }
    assert.deepEqual(await listing(victim), victimBefore, 'the host directory is untouched');
    assert.deepEqual(await mountsUnder(work.path), []);
    assert.deepEqual((await readdir(join(cache, UNPACKED_DIR))).filter((n) => n.startsWith('.')), [], 'no workspace left');
  });

  test('a layer cannot plant overlay whiteouts or overlay attributes (opaque, redirect, metacopy)', async () => {
    const store = new UnpackedLayers(cache);
    const base = await bottom();
    const forged = (name: string, value: string) => ({ [`SCHILY.xattr.${name}`]: value });
    const hostile = await layerOf([
      // A 0/0 character device is what overlayfs takes for a deletion.
      { header: { name: 'etc/passwd', type: 'character-device', devmajor: 0, devminor: 0 } },
      { header: { name: 'd', type: 'directory', pax: { ...forged('trusted.overlay.opaque', 'y'), ...forged('user.overlay.opaque', 'y'), ...forged('user.kept', 'yes') } } },
      { header: { name: 'd/new', type: 'file', pax: { ...forged('trusted.overlay.redirect', '/etc'), ...forged('trusted.overlay.metacopy', ''), ...forged('user.overlay.redirect', '/etc'), ...forged('user.overlay.metacopy', '') } }, body: 'new\n' },
    ]);
    const [top, below] = await store.lowers([base, hostile], open);
    const names = await xattrNames(top!);
    // The kernel's own bookkeeping of the unpack (origin, impure, uuid) is there; nothing the layer named.
    assert.deepEqual(names.filter((n) => n.startsWith('user.overlay.') || /^trusted\.overlay\.(opaque|redirect|metacopy)$/.test(n)), [], names.join(' '));
    assert.ok(names.includes('user.kept'), 'other user attributes are kept');
    assert.equal((await listing(top!)).get('etc/passwd'), undefined, 'no device in the layer directory');
    // Stacked, the lower layer's files still show: nothing was hidden or redirected.
    const merged = join(work.path, 'merged');
    await mkdir(merged, { recursive: true });
    const mount = await mountOverlay({ base: store.dir, lowers: [top!, below!], merged });
    try {
      const seen = await listing(merged);
      assert.equal(seen.get('d/keep'), 'file kept\n');
      assert.equal(seen.get('d/new'), 'file new\n');
      assert.equal(seen.get('etc/passwd'), 'file root:x:0:0::/root:/bin/sh\n');
    } finally {
      await mount.unmount();
    }
    assert.deepEqual(await listing(victim), victimBefore);
  });

  test('an unpacked layer is trusted only in the boot that wrote it: a file a power loss emptied is never used after', async () => {
    const dir = join(work.path, 'boots');
    const base = await bottom();
    const [first] = await new UnpackedLayers(dir, { bootId: 'boot-1' }).lowers([base], open);
    // Nothing is synced: a power loss can leave the file with its data gone.
    await writeFile(join(first!, 'd', 'keep'), '');
    const [again] = await new UnpackedLayers(dir, { bootId: 'boot-1' }).lowers([base], open);
    assert.equal(again, first, 'the boot that wrote it reuses it');
    const [next] = await new UnpackedLayers(dir, { bootId: 'boot-2' }).lowers([base], open);
    assert.notEqual(next, first, 'the next boot unpacks the layer again');
    assert.equal(await readFile(join(next!, 'd', 'keep'), 'utf8'), 'kept\n');
    // Prune in the next boot removes the earlier boot's directory, though its layer is kept.
    const pruned = await pruneUnpacked(dir, () => true, 'boot-2');
    assert.equal(pruned.layers, 1);
    await assert.rejects(access(first!));
    assert.equal(await readFile(join(next!, 'd', 'keep'), 'utf8'), 'kept\n');
  });

  /** Hands `bytes` to a tap in pieces, as a copy does, and ends it. */
  async function feed(tap: { take(piece: Buffer): Promise<void>; end(verified: boolean): void }, bytes: Buffer, verified: boolean): Promise<void> {
    for (let at = 0; at < bytes.length; at += 1000) await tap.take(bytes.subarray(at, at + 1000));
    tap.end(verified);
  }

  test('a layer unpacked from a pull\'s bytes is adopted only when the pull verified every byte; else it is unpacked from the cache', async () => {
    const base = await bottom();
    const layer = { mediaType: base.mediaType, digest: base.digest, size: base.bytes.length };
    let opened = 0;
    const openCached = async () => {
      opened++;
      return Readable.from([base.bytes]);
    };
    const keptPaths: string[] = [];
    const options = { onLayerPaths: async (l: { digest: string }) => void keptPaths.push(l.digest) };

    // Verified and whole: the tap's bytes are the layer, the cache is never read.
    const whole = new UnpackedLayers(join(work.path, 'tap-whole'));
    const tap = whole.unpackWhileCopied(layer, openCached, options, Promise.resolve());
    assert.ok(tap);
    assert.equal(whole.unpackWhileCopied(layer, openCached, options, Promise.resolve()), undefined, 'one unpack of a layer at a time');
    await feed(tap, base.bytes, true);
    const [dir] = await whole.lowers([base], openCached);
    assert.equal(await readFile(join(dir!, 'd', 'keep'), 'utf8'), 'kept\n');
    assert.equal(opened, 0);
    assert.deepEqual(keptPaths, [base.digest]);
    assert.equal(whole.unpackWhileCopied(layer, openCached, options, Promise.resolve()), undefined, 'an unpacked layer is not tapped again');

    // Forged bytes (another valid layer) that fail the check, or bytes cut short: unpacked from the cache once the pull settles.
    const forged = await layerOf([{ header: { name: 'd', type: 'directory' } }, { header: { name: 'd/planted', type: 'file' }, body: 'forged\n' }]);
    for (const [name, bytes, verified] of [['forged', forged.bytes, false], ['short', base.bytes.subarray(0, 2048), true]] as const) {
      opened = 0;
      keptPaths.length = 0;
      const store = new UnpackedLayers(join(work.path, `tap-${name}`));
      let pulled!: () => void;
      const copied = new Promise<void>((resolve) => (pulled = resolve));
      await feed(store.unpackWhileCopied(layer, openCached, options, copied)!, bytes, verified);
      const lowers = store.lowers([base], openCached);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(opened, 0, `${name}: the cache is read only once the pull has settled`);
      pulled();
      const [made] = await lowers;
      assert.equal(opened, 1, name);
      assert.deepEqual((await listing(made!)).get('d/planted'), undefined, name);
      assert.equal(await readFile(join(made!, 'd', 'keep'), 'utf8'), 'kept\n', name);
      assert.deepEqual(keptPaths, [base.digest], `${name}: the path list kept is the cache's layer's`);
      assert.deepEqual((await readdir(store.dir)).filter((n) => n.startsWith('.')), [], `${name}: no workspace left`);
    }

    // A pull that failed outright: no layer, and the failure is the pull's.
    const failing = new UnpackedLayers(join(work.path, 'tap-failed'));
    const failed = Promise.reject(new Error('the pull failed'));
    failed.catch(() => undefined);
    await feed(failing.unpackWhileCopied(layer, openCached, {}, failed)!, forged.bytes, false);
    await assert.rejects(failing.lowers([base], async () => assert.fail('the cache holds nothing to read')), /the pull failed/);
    assert.deepEqual((await readdir(failing.dir)).filter((n) => /^[0-9a-f]{32}$/.test(n) || n.startsWith('.')), []);
  });

  test('a tapped unpack that cannot start (its store is not a directory) never holds the copy up', { timeout: 30_000 }, async () => {
    // Over the tee's buffer: a reader that never came would stop the copy's takes for good.
    const big = await layerOf([{ header: { name: 'big', type: 'file' }, body: 'x'.repeat(9 << 20) }]);
    const cacheDir = join(work.path, 'tap-no-store');
    await mkdir(cacheDir);
    await writeFile(join(cacheDir, UNPACKED_DIR), 'a file where the store would be');
    const store = new UnpackedLayers(cacheDir);
    const tap = store.unpackWhileCopied({ ...big, size: big.bytes.length }, open, {}, Promise.resolve())!;
    await feed(tap, big.bytes, true);
    await tap.done;
    await assert.rejects(store.lowers([big], open), (error: NodeJS.ErrnoException) => error.code === 'EEXIST' || error.code === 'ENOTDIR');
  });

  test('verified bytes of a hostile layer fail its tapped unpack as they fail any other', async () => {
    const hostile = await layerOf([{ header: { name: '../.wh.secret', type: 'file' }, body: '' }]);
    const store = new UnpackedLayers(join(work.path, 'tap-hostile'));
    const tap = store.unpackWhileCopied({ ...hostile, size: hostile.bytes.length }, open, {}, Promise.resolve())!;
    await feed(tap, hostile.bytes, true);
    await assert.rejects(store.lowers([hostile], open), (error: Error & { code?: string }) => error.code === 'LAYOUT_INVALID');
    assert.deepEqual(await listing(victim), victimBefore);
  });

  test('prune detaches a killed build\'s leftover mount before deleting, and deletes nothing through it', async () => {
    const pruned = join(work.path, 'prune-cache');
    const store = new UnpackedLayers(pruned);
    await store.lowers([await bottom()], open);
    // What a build killed mid-step leaves: a workspace with the host directory mounted in it.
    const ws = await store.workspace();
    const mount = await mountOverlay({ base: store.dir, lowers: [victim], upper: ws.upper, work: ws.work, merged: ws.merged }).catch(async () => {
      // The host directory is outside the store: mount it by its absolute path.
      await exec('mount', ['-t', 'overlay', '-o', `lowerdir=${victim},upperdir=${ws.upper},workdir=${ws.work}`, 'polyarch', ws.merged]);
      return undefined;
    });
    assert.equal((await mountsUnder(pruned)).length, 1);
    const result = await pruneBuildCache({ cacheDir: pruned, all: true });
    await mount?.unmount();
    assert.deepEqual(await mountsUnder(pruned), []);
    assert.deepEqual(await listing(victim), victimBefore, 'the host directory shown in the mount is untouched');
    assert.deepEqual(await readdir(join(pruned, UNPACKED_DIR)), [], 'the unpacked layers and the workspace are gone');
    assert.ok(result.removed.some((r) => r.type === 'unpacked'));
  });
});
