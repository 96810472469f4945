// Issue 9 item 1: hostile layers (symlinks, hard links, whiteouts, opaque dirs, odd names) never
// write, delete or link anything outside the directory they are applied to. Each case runs in a
// temp dir holding the root and a sibling "host" directory whose every file, link count and inode
// must be the same afterwards; then the same layers go through `polyarch build` (FROM, COPY --from,
// ADD) into type=local and type=tar outputs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { digestOfBytes } from '../../src/digest/digest.js';
import { createEndpointOpener } from '../../src/endpoint/open-endpoint.js';
import type { Descriptor } from '../../src/image/descriptor.js';
import { rawFromJson } from '../../src/image/raw-manifest.js';
import { compressor } from '../../src/layer/compression.js';
import { applyDirectoryTimes, applyLayer, applyRecordedFacts, type RecordedFacts } from '../../src/layer/extract.js';
import { materializeLayers } from '../../src/layer/materialize.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { parseLocation } from '../../src/reference/location.js';
import { buildSuite } from '../helpers/build-suite.js';
import { runCli, withoutProgress } from '../helpers/run-cli.js';
import { tarOf, type TarEntry } from '../helpers/tar.js';
import { tempDir } from '../helpers/temp-dir.js';

type Entry = TarEntry;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Everything under `dir`: type, mode, link count, inode, link text or content hash. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const visit = async (path: string, rel: string): Promise<void> => {
    const s = await lstat(path);
    let what = `${s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'link' : s.isFile() ? 'file' : 'other'} mode=${s.mode.toString(8)} nlink=${s.nlink} ino=${s.ino}`;
    if (s.isSymbolicLink()) what += ` -> ${await readlink(path)}`;
    else if (s.isFile()) what += ` sha=${sha(await readFile(path))}`;
    out.set(rel, what);
    if (s.isDirectory()) for (const n of (await readdir(path)).sort()) await visit(join(path, n), rel ? `${rel}/${n}` : n);
  };
  await visit(dir, '');
  return out;
}

/** The host side every case attacks: a secret, a victim to delete, a directory to empty. */
async function makeHost(host: string): Promise<string> {
  const marker = `HOST-SECRET-${randomBytes(8).toString('hex')}`;
  await mkdir(join(host, 'sub', 'deeper'), { recursive: true });
  await writeFile(join(host, 'marker'), marker);
  await writeFile(join(host, 'victim'), 'victim\n');
  await writeFile(join(host, 'sub', 'keep'), 'keep\n');
  await writeFile(join(host, 'sub', 'deeper', 'file'), 'deeper\n');
  return marker;
}

/** Every regular file under `dir` with its content and inode (for "no host file in the output"). */
async function filesUnder(dir: string): Promise<{ path: string; ino: number; content: Buffer }[]> {
  const found: { path: string; ino: number; content: Buffer }[] = [];
  const visit = async (path: string): Promise<void> => {
    const s = await lstat(path).catch(() => undefined);
    if (!s) return;
    if (s.isDirectory()) for (const n of await readdir(path)) await visit(join(path, n));
    else if (s.isFile()) found.push({ path, ino: s.ino, content: await readFile(path) });
  };
  await visit(dir);
  return found;
}

interface Case {
  readonly name: string;
  /** Layers applied in order, given the absolute path of the host directory. */
  readonly layers: (host: string) => readonly (readonly Entry[])[];
  /** The layer must be refused (LAYOUT_INVALID) rather than applied. */
  readonly refused?: boolean;
  /** Each layer's compression, by position (default gzip). */
  readonly compression?: readonly ('gzip' | 'zstd' | 'uncompressed')[];
  /** What the root must hold afterwards (links resolved inside it, as a chroot would). */
  readonly check?: (root: string, host: string) => Promise<void>;
}

const dir = (name: string): Entry => ({ name, type: 'directory' });
const sym = (name: string, linkname: string): Entry => ({ name, type: 'symlink', linkname });
const hard = (name: string, linkname: string): Entry => ({ name, type: 'link', linkname });
const file = (name: string, content = 'pwned\n'): Entry => ({ name, content });
/** A relative link target that climbs far above any root, then names `host` absolutely. */
const climb = (host: string) => `${'../'.repeat(24)}${host.slice(1)}`;

const isFileIn = async (path: string, content?: string) => {
  const s = await lstat(path);
  assert.ok(s.isFile(), `${path} should be a file`);
  if (content !== undefined) assert.equal(await readFile(path, 'utf8'), content);
};
const isAbsent = async (path: string) => assert.equal(await lstat(path).catch(() => undefined), undefined, `${path} should not exist`);

/**
 * Applies each case's layers into TMP/root next to TMP/host and checks: the host is byte-, inode-
 * and link-count-identical; nothing else appeared next to the root; the root is still a directory;
 * refusals are one-line LAYOUT_INVALID errors; and what the root holds.
 */
async function runCases(cases: readonly Case[]): Promise<void> {
  const failures: string[] = [];
  for (const c of cases) {
    const tmp = await tempDir('polyarch-layer-');
    try {
      const root = join(tmp.path, 'root');
      const host = join(tmp.path, 'host');
      await mkdir(root);
      await makeHost(host);
      const before = await snapshot(host);
      let error: unknown;
      try {
        for (const [n, entries] of c.layers(host).entries()) {
          const kind = c.compression?.[n] ?? 'gzip';
          const tar = await tarOf(entries);
          const bytes = kind === 'gzip' ? gzipSync(tar) : await buffer(Readable.from([tar]).pipe(compressor({ kind })));
          const mediaType = kind === 'gzip' ? MediaType.OciLayerGzip : kind === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
          await applyLayer(root, Readable.from([bytes]), { mediaType });
        }
      } catch (caught) {
        error = caught;
      }
      try {
        assert.deepEqual([...(await snapshot(host))], [...before], 'the host directory changed');
        assert.deepEqual((await readdir(tmp.path)).sort(), ['host', 'root'], 'something appeared next to the root');
        assert.ok((await lstat(root)).isDirectory(), 'the root is no longer a directory');
        if (c.refused) {
          assert.ok(error, 'the layer should have been refused');
          assert.equal((error as { code?: string }).code, 'LAYOUT_INVALID', String(error));
          assert.doesNotMatch((error as Error).message, /\n/);
        } else {
          assert.equal(error, undefined, `unexpected error: ${String(error)}`);
        }
        await c.check?.(root, host);
      } catch (failure) {
        failures.push(`${c.name}: ${(failure as Error).message.split('\n')[0]}`);
      }
    } finally {
      await tmp.remove();
    }
  }
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases failed`);
}

test('9.1 a layer cannot create or overwrite anything outside its root through symlinks or odd names', async () => {
  await runCases([
    { name: 'absolute dir link, then a file through it', layers: (h) => [[sym('x', h), file('x/evil')]], check: (r, h) => isFileIn(join(r, h, 'evil'), 'pwned\n') },
    { name: 'relative ../host link, then a file through it', layers: () => [[sym('x', '../host'), file('x/evil')]], check: (r) => isFileIn(join(r, 'host', 'evil')) },
    { name: 'relative link climbing 24 levels', layers: (h) => [[sym('x', climb(h)), file('x/evil')]], check: (r, h) => isFileIn(join(r, h, 'evil')) },
    { name: 'link to / then the host path below it', layers: (h) => [[sym('slash', '/'), file(`slash${h}/evil`)]], check: (r, h) => isFileIn(join(r, h, 'evil')) },
    { name: 'chain of links a -> b -> c -> host', layers: (h) => [[sym('a', 'b'), sym('b', 'c'), sym('c', h), file('a/evil')]], check: (r, h) => isFileIn(join(r, h, 'evil')) },
    { name: 'link to a link in a subdirectory', layers: () => [[dir('d'), sym('d/l', '../../host'), sym('m', 'd/l'), file('m/evil')]], check: (r) => isFileIn(join(r, 'host', 'evil')) },
    { name: 'link made in one layer, written through in the next', layers: (h) => [[sym('x', h)], [file('x/evil'), file('x/marker')]], check: (r, h) => isFileIn(join(r, h, 'marker'), 'pwned\n') },
    { name: 'link, then a directory entry of the same name, then a file in it', layers: (h) => [[sym('x', h), dir('x'), file('x/evil')]], check: async (r) => { assert.ok((await lstat(join(r, 'x'))).isDirectory()); await isFileIn(join(r, 'x', 'evil')); } },
    { name: 'link to a host file, then a file of the same name', layers: (h) => [[sym('f', join(h, 'marker')), file('f')]], check: (r) => isFileIn(join(r, 'f'), 'pwned\n') },
    { name: 'link to a host file, then a file through a link to that link', layers: (h) => [[sym('f', join(h, 'marker')), sym('g', 'f'), dir('d'), sym('d/h', '../g'), file('d/h')]], check: (r) => isFileIn(join(r, 'd', 'h')) },
    { name: 'link to a host file, then a symlink of the same name', layers: (h) => [[sym('f', join(h, 'marker')), sym('f', 'elsewhere')]], check: async (r) => assert.equal(await readlink(join(r, 'f')), 'elsewhere') },
    { name: 'link to a host dir, then a directory below it', layers: (h) => [[sym('x', h), dir('x/newdir'), dir('x/sub/made')]], check: async (r, h) => assert.ok((await lstat(join(r, h, 'sub', 'made'))).isDirectory()) },
    { name: 'leading slash through a link', layers: (h) => [[sym('x', h), file('/x/evil'), file('./x/evil2')]], check: (r, h) => isFileIn(join(r, h, 'evil2')) },
    { name: 'x/../x/evil through a link', layers: (h) => [[sym('x', h), file('x/../x/evil')]], check: (r, h) => isFileIn(join(r, h, 'evil')) },
    { name: 'link to ../.. from a subdirectory', layers: () => [[dir('a'), sym('a/up', '../..'), file('a/up/host/evil')]], check: (r) => isFileIn(join(r, 'host', 'evil')) },
    { name: 'entry named ../host/evil', layers: () => [[file('../host/evil')]], refused: true },
    { name: 'entry named a/../../host/evil', layers: () => [[dir('a'), file('a/../../host/evil')]], refused: true },
    { name: 'entry named /../host/evil', layers: () => [[file('/../host/evil')]], refused: true },
    { name: 'a file entry naming the root itself', layers: () => [[file('keep'), file('./')]], refused: true },
    { name: 'a path seen before a link of that name appears is resolved again', layers: (h) => [[file('c/.wh.x'), sym('c', h), file('c/evil')]], check: (r, h) => isFileIn(join(r, h, 'evil')) },
    { name: 'a directory replaced by a link within one layer', layers: (h) => [[dir('d'), file('d/one'), sym('d', h), file('d/two'), dir('e'), file('e/one'), file('.wh.e'), sym('e', h), file('e/three')]], check: (r, h) => isFileIn(join(r, h, 'three')) },
    { name: 'a link loop on the way is refused', layers: () => [[sym('a', 'b'), sym('b', 'a'), file('a/x')]], refused: true },
    { name: 'a file where a directory is needed is refused', layers: () => [[file('f'), file('f/x')]], refused: true },
    { name: 'zstd and plain layers are held to the same rules', layers: (h) => [[sym('x', h)], [file('x/evil')]], compression: ['zstd', 'uncompressed'], check: (r, h) => isFileIn(join(r, h, 'evil')) },
    { name: 'devices and fifos are skipped', layers: () => [[{ name: 'dev/null', type: 'character-device' }, { name: 'dev/sda', type: 'block-device' }, { name: 'pipe', type: 'fifo' }, file('after')]], check: (r) => isFileIn(join(r, 'after')) },
  ]);
});

test('9.1 whiteouts and opaque directories cannot delete anything outside the root', async () => {
  await runCases([
    { name: 'whiteout through an absolute dir link', layers: (h) => [[sym('z', h), file('z/.wh.victim')]] },
    { name: 'whiteout through a relative dir link', layers: () => [[sym('z', '../host'), file('z/.wh.victim')]] },
    { name: 'whiteout through a chain of links', layers: (h) => [[sym('a', 'b'), sym('b', climb(h))], [file('a/.wh.victim'), file('a/sub/.wh.deeper')]] },
    { name: 'whiteout of a directory through a link', layers: (h) => [[sym('z', h)], [file('z/.wh.sub')]] },
    { name: 'opaque directory through a dir link', layers: (h) => [[sym('y', h), file('y/sub/.wh..wh..opq')]], check: async (r, h) => assert.deepEqual(await readdir(join(r, h, 'sub')), []) },
    { name: 'opaque directory through a relative link, in a later layer', layers: () => [[sym('y', '../host')], [file('y/sub/.wh..wh..opq')]] },
    { name: 'opaque directory at a link to a host dir', layers: (h) => [[sym('y', join(h, 'sub'))], [file('y/.wh..wh..opq')]] },
    { name: 'whiteout of a link to a host file deletes the link only', layers: (h) => [[sym('v', join(h, 'victim'))], [file('.wh.v')]], check: (r) => isAbsent(join(r, 'v')) },
    { name: 'whiteout of a link to a host dir deletes the link only', layers: (h) => [[sym('v', h)], [file('.wh.v')]], check: (r) => isAbsent(join(r, 'v')) },
    ...['.wh...', '.wh..', '.wh.', 'd/.wh...', 'x/.wh...', 'x/sub/.wh...'].map((name): Case => ({
      name: `whiteout ${name} is refused and removes nothing`,
      layers: (h) => [[sym('x', h), file('keep'), dir('d')], [file(name)]],
      refused: true,
      check: (r) => isFileIn(join(r, 'keep')),
    })),
    { name: 'AUFS metadata (.wh..wh.plnk) is no whiteout', layers: () => [[dir('.wh..wh.plnk'), file('.wh..wh.plnk/123.4'), file('keep')]], check: (r) => isFileIn(join(r, 'keep')) },
    { name: 'a whiteout never hides what its own layer wrote', layers: () => [[file('old'), dir('o'), file('o/lower')], [file('new'), file('.wh.new'), dir('o'), file('o/.wh..wh..opq'), file('o/upper'), file('.wh.old')]], check: async (r) => { await isFileIn(join(r, 'new')); await isAbsent(join(r, 'old')); assert.deepEqual(await readdir(join(r, 'o')), ['upper']); } },
    { name: 'whiteout with .. in its directory', layers: () => [[dir('a')], [file('a/../../host/.wh.victim')]], refused: true },
  ]);
});

test('9.1 hard links cannot bring a host file into the root', async () => {
  await runCases([
    { name: 'hard link through an absolute dir link', layers: (h) => [[sym('x', h), hard('s', 'x/marker')]], refused: true },
    { name: 'hard link through a relative dir link', layers: () => [[sym('x', '../host'), hard('s', 'x/marker')]], refused: true },
    { name: 'hard link through a chain of links', layers: (h) => [[sym('a', 'b'), sym('b', climb(h))], [hard('s', 'a/marker')]], refused: true },
    { name: 'hard link through a link to /', layers: (h) => [[sym('slash', '/'), hard('s', `slash${h}/marker`)]], refused: true },
    { name: 'hard link to a symlink that points at a host file', layers: (h) => [[sym('l', join(h, 'marker')), hard('s', 'l')]], refused: true },
    { name: 'hard link named ../host/marker', layers: () => [[hard('s', '../host/marker')]], refused: true },
    { name: 'hard link named /../host/marker', layers: () => [[hard('s', '/../host/marker')]], refused: true },
    { name: 'hard link whose own name goes through a dir link', layers: (h) => [[file('ok'), sym('x', h), hard('x/linked', 'ok')]], check: async (r, h) => assert.equal((await lstat(join(r, h, 'linked'))).ino, (await lstat(join(r, 'ok'))).ino) },
    { name: 'hard link over a link to a host file replaces the link', layers: (h) => [[file('ok', 'mine\n'), sym('s', join(h, 'marker')), hard('s', 'ok')]], check: (r) => isFileIn(join(r, 's'), 'mine\n') },
    { name: 'hard link to a file in the root works', layers: () => [[dir('etc'), file('etc/shadow', 'root:*:\n'), hard('s', 'etc/shadow'), hard('/t', './etc/shadow')]], check: (r) => isFileIn(join(r, 't'), 'root:*:\n') },
  ]);
});

/** Pushes an image whose layers are `layers` (each a list of entries, gzipped) as REPO:1. */
async function pushImage(registry: string, repo: string, layers: readonly (readonly Entry[])[]): Promise<string> {
  const { endpoint } = await createEndpointOpener().open(parseLocation(`${registry}/${repo}:1`), 'write');
  const descriptors: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const entries of layers) {
    const tar = await tarOf(entries);
    const gz = gzipSync(tar);
    const descriptor: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOfBytes(gz), size: gz.length };
    await endpoint.putBlob(descriptor, Readable.from([gz]));
    descriptors.push(descriptor);
    diffIds.push(digestOfBytes(tar));
  }
  const config = rawFromJson({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds }, history: [] }, MediaType.OciConfig);
  const configDescriptor: Descriptor = { mediaType: config.mediaType, digest: config.digest, size: config.size };
  await endpoint.putBlob(configDescriptor, Readable.from([config.bytes]));
  const manifest = rawFromJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDescriptor, layers: descriptors }, MediaType.OciManifest);
  await endpoint.putManifest(manifest, { tag: '1' });
  return `${registry}/${repo}:1`;
}

/** Layers that write, delete and empty through links: applied safely, they succeed inside the root. */
const writesAndDeletes = (h: string): Entry[][] => [
  [sym('x', h), sym('r', climb(h)), sym('z', h), dir('etc'), file('etc/ok', 'fine\n')],
  [file('x/evil-abs'), file('r/evil-rel'), file('z/.wh.victim'), file('x/sub/.wh..wh..opq'), file('r/marker', 'overwritten\n')],
];
/** A layer that hard-links the host's marker through a link: refused. */
const linksHost = (h: string): Entry[][] => [[sym('x', h), file('ok'), hard('s', 'x/marker'), hard('t', `${climb(h)}/marker`)]];

/** An empty `root` and a `host` directory beside it in a temp directory, removed afterwards. */
async function inRootBesideHost(fn: (root: string, host: string, tmp: string) => Promise<void>): Promise<void> {
  const tmp = await tempDir('polyarch-layer-');
  try {
    const root = join(tmp.path, 'root');
    await mkdir(root);
    await fn(root, join(tmp.path, 'host'), tmp.path);
  } finally {
    await tmp.remove();
  }
}

test('9.1 recorded owners and modes are set inside the root even when a later layer turns a parent into a link', () =>
  inRootBesideHost(async (root, host) => {
    await mkdir(host);
    await writeFile(join(host, 'f'), 'host file\n', { mode: 0o644 });
    const record: RecordedFacts = new Map();
    const layers: Entry[][] = [
      [dir('x/'), { name: 'x/f', content: 'image file\n', mode: 0o4755, uid: 1234, gid: 1234 }],
      [{ name: '.wh.x', content: '' }, sym('x', host)],
    ];
    for (const entries of layers) await applyLayer(root, Readable.from([gzipSync(await tarOf(entries))]), { mediaType: MediaType.OciLayerGzip, record });
    await applyRecordedFacts(root, record);
    const after = await lstat(join(host, 'f'));
    assert.equal(after.mode & 0o7777, 0o644, "a host file got the image's mode");
    assert.equal(after.uid, process.getuid?.() ?? after.uid, "a host file got the image's owner");
  }));

test("an exported filesystem's directory times stay inside the root when a later layer turns a parent into a link", () =>
  inRootBesideHost(async (root, host, tmp) => {
    await mkdir(join(host, 'd'), { recursive: true });
    const hostTime = (await lstat(join(host, 'd'))).mtimeMs;
    const times = new Map<string, Date>();
    const old = new Date(86_400_000);
    const layers: Entry[][] = [
      [{ ...dir('x/'), mtime: old }, { ...dir('x/d/'), mtime: old }, { name: 'x/f', content: 'image file\n', mtime: old }],
      [{ name: '.wh.x', content: '' }, sym('x', host)],
    ];
    for (const entries of layers) await applyLayer(root, Readable.from([gzipSync(await tarOf(entries))]), { mediaType: MediaType.OciLayerGzip, times });
    applyDirectoryTimes(times);
    assert.equal((await lstat(join(host, 'd'))).mtimeMs, hostTime, "a host directory got the image's time");
    // Where no link interferes, the layer's times are kept, files and directories alike.
    const plain = join(tmp, 'plain');
    await mkdir(plain);
    const kept = new Map<string, Date>();
    await applyLayer(plain, Readable.from([gzipSync(await tarOf(layers[0]!))]), { mediaType: MediaType.OciLayerGzip, times: kept });
    applyDirectoryTimes(kept);
    for (const path of ['x', 'x/d', 'x/f']) assert.equal((await lstat(join(plain, path))).mtimeMs, old.getTime(), path);
  }));

test("a stage root's times (materializeLayers) stay inside the root: a layer that turns its own directory into a link, and links to host files", () =>
  inRootBesideHost(async (root, host) => {
    await mkdir(join(host, 'd'), { recursive: true });
    await writeFile(join(host, 'f'), 'host file\n');
    const hostTimes = async () => Promise.all(['', 'd', 'f'].map(async (p) => (await lstat(join(host, p))).mtimeMs));
    const before = await hostTimes();
    const old = new Date(86_400_000);
    const entries: Entry[] = [
      { ...dir('x/'), mtime: old },
      { ...dir('x/d/'), mtime: old },
      // The same layer replaces x, whose times it gave, by a link to the host, then links to host files.
      { ...sym('x', host), mtime: old },
      { ...sym('abs', join(host, 'f')), mtime: old },
      { ...sym('rel', climb(join(host, 'f'))), mtime: old },
      { ...dir('kept/'), mtime: old },
    ];
    const layer = { mediaType: MediaType.OciLayerGzip, digest: 'sha256:'.padEnd(71, '0') };
    const bytes = gzipSync(await tarOf(entries));
    await materializeLayers(root, [layer], async () => Readable.from([bytes]));
    assert.deepEqual(await hostTimes(), before, "a host file or directory got the image's time");
    // The link itself carries the layer's time; a directory no link interferes with, too.
    for (const path of ['abs', 'rel', 'kept']) assert.equal((await lstat(join(root, path))).mtimeMs, old.getTime(), path);
  }));

describe('9.1 polyarch build with hostile layers', () => {
  const suite = buildSuite();

  /** A fresh host directory under the suite, its marker and snapshot. */
  const hostFor = async (name: string) => {
    const host = join(suite.dir.path, `host-${name}`);
    const marker = await makeHost(host);
    return { host, marker, before: await snapshot(host) };
  };

  /** Checks the host is as it was and that no output holds its marker or shares its inodes. */
  const assertUntouched = async (h: { host: string; marker: string; before: Map<string, string> }, outputs: readonly string[]) => {
    assert.deepEqual([...(await snapshot(h.host))], [...h.before], 'the host directory changed');
    const hostInodes = new Set((await filesUnder(h.host)).map((f) => f.ino));
    for (const out of outputs) {
      for (const f of await filesUnder(out)) {
        assert.ok(!hostInodes.has(f.ino), `${f.path} is a hard link to a host file`);
        assert.ok(!f.content.includes(h.marker), `${f.path} holds the host's secret`);
      }
    }
  };

  const build = async (name: string, dockerfile: string, extra: Record<string, Buffer> = {}) => {
    const ctx = join(suite.dir.path, `ctx-${name}`);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    for (const [file, bytes] of Object.entries(extra)) await writeFile(join(ctx, file), bytes);
    const local = join(suite.dir.path, `out-${name}`);
    const tar = join(suite.dir.path, `out-${name}.tar`);
    const out = await runCli(['build', '--platform', 'linux/amd64', '-o', `type=local,dest=${local}`, '-o', `type=tar,dest=${tar}`, ctx], { env: suite.env });
    return { out, local, tar };
  };

  const assertRefused = (out: { code: number; stderr: string }) => {
    assert.notEqual(out.code, 0, 'the build should fail');
    assert.match(out.stderr, /\[LAYOUT_INVALID\]/);
    assert.equal(withoutProgress(out.stderr).trim().split('\n').length, 1, out.stderr);
  };

  test('9.1 FROM <hostile image> -o type=local,type=tar: contained, and hard links to host files refused', async () => {
    const h = await hostFor('from');
    const image = await pushImage(suite.reg.host, 'evil-from', writesAndDeletes(h.host));
    const ok = await build('from', `FROM ${image}\n`);
    await assertUntouched(h, [ok.local, ok.tar]);
    assert.equal(ok.out.code, 0, ok.out.stderr);
    assert.equal(await readFile(join(ok.local, h.host, 'evil-abs'), 'utf8'), 'pwned\n', 'the write landed inside the output');
    const linked = await pushImage(suite.reg.host, 'evil-from-link', linksHost(h.host));
    const bad = await build('from-link', `FROM ${linked}\n`);
    await assertUntouched(h, [bad.local, bad.tar]);
    assertRefused(bad.out);
  });

  test('9.1 COPY --from=<hostile image>: contained, host files neither linked nor read through its links', async () => {
    const h = await hostFor('copy');
    const image = await pushImage(suite.reg.host, 'evil-copy', writesAndDeletes(h.host));
    const ok = await build('copy', `FROM scratch\nCOPY --from=${image} / /got/\n`);
    await assertUntouched(h, [ok.local, ok.tar]);
    assert.equal(ok.out.code, 0, ok.out.stderr);
    assert.equal(await readFile(join(ok.local, 'got', 'etc', 'ok'), 'utf8'), 'fine\n');
    // A source path through the image's own links to the host is "not found", never the host's file.
    const reader = await pushImage(suite.reg.host, 'evil-copy-read', [[sym('x', h.host), sym('ln', join(h.host, 'marker')), sym('up', climb(h.host))]]);
    for (const source of ['/x/marker', '/ln', '/up/marker', '/../../../../../..' + join(h.host, 'marker')]) {
      const read = await build('copy-read', `FROM scratch\nCOPY --from=${reader} ${source} /stolen\n`);
      await assertUntouched(h, [read.local, read.tar]);
      assert.notEqual(read.out.code, 0, `COPY --from ${source}: a source that leaves the image is not found`);
      assert.match(read.out.stderr, /not found in the image/);
    }
    const linked = await pushImage(suite.reg.host, 'evil-copy-link', linksHost(h.host));
    const bad = await build('copy-link', `FROM scratch\nCOPY --from=${linked} / /got/\n`);
    await assertUntouched(h, [bad.local, bad.tar]);
    assertRefused(bad.out);
  });

  test('9.1 ADD <hostile local tar>: contained, plain or gzip, bzip2, xz or zstd, hard links to host files refused', async () => {
    const h = await hostFor('add');
    const [first, second] = writesAndDeletes(h.host);
    const plain = await tarOf([...first!, ...second!]);
    // bzip2 and xz go through their programs: the same extraction rules hold for what they hand over.
    const squeezed = (program: string, bytes = plain) => spawnSync(program, ['-c'], { input: bytes, maxBuffer: 64 << 20 }).stdout;
    const ok = await build('add', 'FROM scratch\nADD evil.tar /\nADD evil.tar.gz /again/\nADD evil.tar.bz2 /bz2/\nADD evil.tar.xz /xz/\nADD evil.tar.zst /zst/\n', {
      'evil.tar': plain,
      'evil.tar.gz': gzipSync(plain),
      'evil.tar.bz2': squeezed('bzip2'),
      'evil.tar.xz': squeezed('xz'),
      'evil.tar.zst': squeezed('zstd'),
    });
    await assertUntouched(h, [ok.local, ok.tar]);
    assert.equal(ok.out.code, 0, ok.out.stderr);
    for (const at of ['again', 'bz2', 'xz', 'zst']) assert.equal(await readFile(join(ok.local, at, 'etc', 'ok'), 'utf8'), 'fine\n', at);
    const linking = await tarOf(linksHost(h.host)[0]!);
    const bad = await build('add-link', 'FROM scratch\nADD evil.tar /\n', { 'evil.tar': linking });
    await assertUntouched(h, [bad.local, bad.tar]);
    assertRefused(bad.out);
    const badXz = await build('add-link-xz', 'FROM scratch\nADD evil.tar.xz /\n', { 'evil.tar.xz': squeezed('xz', linking) });
    await assertUntouched(h, [badXz.local, badXz.tar]);
    assertRefused(badXz.out);
  });

  test('9.1 a multi-platform type=local never writes through a link an earlier export left at DEST/os_arch', async () => {
    const h = await hostFor('platform-link');
    // Exported alone, this image's root becomes DEST, with links named as the platform folders.
    const planter = await pushImage(suite.reg.host, 'evil-platform-dirs', [[sym('linux_amd64', h.host), sym('linux_arm64', h.host)]]);
    const planted = await build('platform-link', `FROM ${planter}\n`);
    assert.equal(planted.out.code, 0, planted.out.stderr);
    assert.equal((await lstat(join(planted.local, 'linux_amd64'))).isSymbolicLink(), true);
    const ctx = join(suite.dir.path, 'ctx-platform-link-2');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY victim /victim\nCOPY victim /planted\n');
    await writeFile(join(ctx, 'victim'), 'overwritten\n');
    const out = await runCli(['build', '--platform', 'linux/amd64,linux/arm64', '-o', `type=local,dest=${planted.local}`, ctx], { env: suite.env });
    await assertUntouched(h, []);
    assert.equal(out.code, 2, out.stderr);
    assert.match(withoutProgress(out.stderr), /^polyarch: type=local: \S+linux_amd64 is a symbolic link; .* \[USAGE\]\n$/);
  });
});
