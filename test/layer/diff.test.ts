// A RUN step's changes as a layer: a base tree is made by applying a generated layer, changed the
// way a step would change it, snapshotted and diffed; the diff is written with writeLayer and
// applied with applyLayer onto a fresh copy of the base, which must then hold exactly the changed
// tree (types, modes, owners, sizes, contents, link targets and hard-link groups; times and inode
// numbers aside: the writer gives every entry one time).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, chmod, chown, lchown, link, lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { diffTree } from '../../src/layer/diff.js';
import { applyLayer, applyRecordedFacts, type RecordedFacts } from '../../src/layer/extract.js';
import { walkLayer } from '../../src/layer/scan.js';
import { snapshotTree } from '../../src/layer/snapshot.js';
import { comparePaths, writeLayer, type LayerEntry } from '../../src/layer/writer.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { tarOf as tarEntries, type TarEntry } from '../helpers/tar.js';
import { tempDir } from '../helpers/temp-dir.js';

type Entry = TarEntry;

/** The base layers' entries all carry one fixed time. */
function tarOf(entries: readonly Entry[]): Promise<Buffer> {
  return tarEntries(entries.map((e) => ({ mtime: new Date(1_000_000_000_000), ...e })));
}

/** The base image's one layer: modes, owners, setuid, symlinks and a hard link pair. */
const BASE: readonly Entry[] = [
  { name: 'bin/', type: 'directory' },
  { name: 'bin/tool', mode: 0o755, content: '#!/bin/sh\necho tool\n' },
  { name: 'bin/su', mode: 0o4755, content: 'setuid\n' },
  { name: 'etc/', type: 'directory' },
  { name: 'etc/conf', content: 'key=value\n' },
  { name: 'etc/same-size', content: 'AAAA\n' },
  { name: 'etc/perm', content: 'perm\n' },
  { name: 'etc/owned', content: 'owned\n' },
  { name: 'etc/gone', content: 'to delete\n' },
  { name: 'etc/fifo-spot', content: 'becomes a fifo\n' },
  { name: 'home/', type: 'directory', mode: 0o755 },
  { name: 'home/user/', type: 'directory', mode: 0o700, uid: 1000, gid: 1000 },
  { name: 'home/user/.profile', mode: 0o600, uid: 1000, gid: 1000, content: 'export A=1\n' },
  { name: 'olddir/', type: 'directory' },
  { name: 'olddir/a', content: 'a\n' },
  { name: 'olddir/sub/', type: 'directory' },
  { name: 'olddir/sub/b', content: 'b\n' },
  { name: 'dir-to-file/', type: 'directory' },
  { name: 'dir-to-file/x', content: 'x\n' },
  { name: 'file-to-dir', content: 'was a file\n' },
  { name: 'remade/', type: 'directory', mode: 0o775 },
  { name: 'remade/keep-name', content: 'lower version\n' },
  { name: 'remade/lower-only', content: 'must vanish\n' },
  { name: 'remade/deep/', type: 'directory' },
  { name: 'remade/deep/z', content: 'z\n' },
  { name: 'modes/', type: 'directory', mode: 0o755 },
  { name: 'modes/f', content: 'f\n' },
  { name: 'lib/', type: 'directory' },
  { name: 'lib/libx.so.1', content: 'library\n' },
  { name: 'lib/libx.so', type: 'symlink', linkname: 'libx.so.1' },
  { name: 'lib/hard-a', content: 'hard pair\n' },
  { name: 'lib/hard-b', type: 'link', linkname: 'lib/hard-a' },
  { name: 'lib/pair-x', content: 'pair\n' },
  { name: 'lib/pair-y', type: 'link', linkname: 'lib/pair-x' },
  { name: 'lib/trio-1', content: 'trio\n' },
  { name: 'lib/trio-2', type: 'link', linkname: 'lib/trio-1' },
  { name: 'tmp/', type: 'directory', mode: 0o1777 },
];

/** A root holding `layers` applied in order, with their modes and owners set. */
async function materialize(root: string, layers: readonly { content: () => Readable; mediaType: string }[]): Promise<RecordedFacts> {
  await mkdir(root, { recursive: true });
  const all: RecordedFacts = new Map();
  for (const layer of layers) {
    const record: RecordedFacts = new Map();
    await applyLayer(root, layer.content(), { mediaType: layer.mediaType, record });
    await applyRecordedFacts(root, record);
    for (const [k, v] of record) all.set(k, v);
  }
  return all;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Everything under `dir` but times and inode numbers: hard links as "same file as <first path>". */
async function describeTree(dir: string, skip: ReadonlySet<string> = new Set()): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const firstOfInode = new Map<number, string>();
  const visit = async (path: string, rel: string): Promise<void> => {
    const s = await lstat(path);
    const type = s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'symlink' : s.isFile() ? 'file' : s.isFIFO() ? 'fifo' : 'other';
    let what = `${type} mode=${(s.mode & 0o7777).toString(8)} owner=${s.uid}:${s.gid}`;
    if (s.isSymbolicLink()) what += ` -> ${await readlink(path)}`;
    if (s.isFile()) {
      what += ` size=${s.size} sha=${sha(await readFile(path))} nlink=${s.nlink}`;
      const first = firstOfInode.get(s.ino);
      if (first !== undefined) what += ` same-file-as=${first}`;
      else firstOfInode.set(s.ino, rel);
    }
    if (rel !== '') out.set(rel, what);
    if (s.isDirectory()) {
      for (const name of (await readdir(path)).sort()) {
        const child = rel ? `${rel}/${name}` : name;
        if (!skip.has(child)) await visit(join(path, name), child);
      }
    }
  };
  await visit(dir, '');
  return out;
}

const bufferLayer = (buffer: Buffer) => ({ content: () => Readable.from([buffer]), mediaType: MediaType.OciLayer });

/** Writes `entries` as a layer under `dir`, returns it as something `materialize` applies. */
async function written(entries: readonly LayerEntry[], dir: string, name = 'diff.tar.gz') {
  const file = join(dir, name);
  const layer = await writeLayer(entries, { file, mtime: new Date(1_700_000_000_000) });
  return { content: () => createReadStream(layer.file), mediaType: layer.descriptor.mediaType, file: layer.file };
}

describe('diffTree: a step\'s changes as a layer', () => {
  let work: { path: string; remove: () => Promise<void> };
  let baseTar: Buffer;
  before(async () => {
    work = await tempDir('polyarch-diff-');
    baseTar = await tarOf(BASE);
  });
  after(() => work.remove());

  test('every kind of change written and applied onto the base reproduces the changed tree', async () => {
    const root = join(work.path, 'stage');
    const recorded = await materialize(root, [bufferLayer(baseTar)]);
    const beforeSnapshot = await snapshotTree(root);
    assert.equal((await describeTree(root)).get('bin/su'), `file mode=4755 owner=0:0 size=7 sha=${sha(Buffer.from('setuid\n'))} nlink=1`);

    // The step.
    await mkdir(join(root, 'new/deeper'), { recursive: true, mode: 0o750 });
    await writeFile(join(root, 'new/deeper/file.txt'), 'added\n');
    await appendFile(join(root, 'etc/conf'), 'more=1\n'); // content changed in place
    const sameSize = join(root, 'etc/same-size');
    const old = await stat(sameSize);
    await writeFile(sameSize, 'BBBB\n'); // same size, then the old mtime put back: only ctime tells
    await utimes(sameSize, old.atime, old.mtime);
    await chmod(join(root, 'etc/perm'), 0o4711);
    await chown(join(root, 'etc/owned'), 1234, 5678);
    await rm(join(root, 'etc/gone'));
    await rm(join(root, 'olddir'), { recursive: true });
    await rm(join(root, 'dir-to-file'), { recursive: true });
    await writeFile(join(root, 'dir-to-file'), 'now a file\n');
    await rm(join(root, 'file-to-dir'));
    await mkdir(join(root, 'file-to-dir/inner'), { recursive: true });
    await writeFile(join(root, 'file-to-dir/inner/y'), 'y\n');
    await rm(join(root, 'remade'), { recursive: true });
    await mkdir(join(root, 'remade/deep'), { recursive: true });
    await chmod(join(root, 'remade'), 0o755);
    await writeFile(join(root, 'remade/keep-name'), 'upper version\n');
    await writeFile(join(root, 'remade/deep/new'), 'new\n');
    await chmod(join(root, 'modes'), 0o700);
    await writeFile(join(root, 'new/one'), 'linked twice\n');
    await link(join(root, 'new/one'), join(root, 'new/two'));
    await link(join(root, 'lib/libx.so.1'), join(root, 'new/to-base')); // a new link to a base file
    await symlink('../lib/libx.so.1', join(root, 'new/rel-link'));
    await symlink('/etc/conf', join(root, 'new/abs-link'));
    await rm(join(root, 'lib/libx.so'));
    await symlink('libx.so.2', join(root, 'lib/libx.so')); // retargeted
    await lchown(join(root, 'new/rel-link'), 7, 8);
    await writeFile(join(root, 'home/user/.profile'), 'export A=2\n'); // keeps its owner 1000:1000
    execFileSync('mkfifo', [join(root, 'new/pipe')]);
    await rm(join(root, 'etc/fifo-spot'));
    execFileSync('mkfifo', [join(root, 'etc/fifo-spot')]);
    await appendFile(join(root, 'lib/pair-y'), 'changed through one name\n'); // both names in the layer, still one file
    await rm(join(root, 'lib/trio-2')); // the other name loses a link: in the layer again, alone
    await rename(join(root, 'bin/tool'), join(root, 'bin/tool.old'));
    await writeFile(join(root, 'bin/tool'), '#!/bin/sh\necho TOOL\n', { mode: 0o755 });

    const changes = await diffTree(beforeSnapshot, { recorded });
    const byPath = new Map(changes.entries.map((e) => [`${e.type} ${e.path}`, e]));
    const kinds = (type: LayerEntry['type']) => changes.entries.filter((e) => e.type === type).map((e) => e.path);

    assert.deepEqual(kinds('whiteout').sort(), ['etc/gone', 'lib/trio-2', 'olddir'], 'one whiteout per deleted top path; none below a replaced directory');
    assert.deepEqual(kinds('opaque'), ['remade']);
    assert.deepEqual(kinds('link').sort(), ['lib/pair-y', 'new/to-base', 'new/two']);
    assert.equal(byPath.get('link lib/pair-y')?.linkname, 'lib/pair-x');
    assert.ok(byPath.has('file lib/trio-1'));
    assert.equal(byPath.get('link new/two')?.linkname, 'new/one');
    assert.equal(byPath.get('link new/to-base')?.linkname, 'lib/libx.so.1', 'the base file a new link names is in the layer, and carries the bytes');
    assert.ok(byPath.has('file lib/libx.so.1'));
    assert.ok(byPath.has('file etc/same-size'), 'same size and mtime: ctime says it changed');
    assert.equal(byPath.get('symlink lib/libx.so')?.linkname, 'libx.so.2');
    assert.deepEqual(kinds('fifo').sort(), ['etc/fifo-spot', 'new/pipe'], 'named pipes are kept, one replacing a file too');
    assert.deepEqual(changes.notices, []);
    assert.deepEqual(changes.skipped, []);
    for (const unchanged of ['bin/su', 'lib/hard-a', 'lib/hard-b', 'lib/libx.so.2', 'tmp', 'olddir/a', 'dir-to-file/x', 'remade/lower-only']) {
      assert.ok(!changes.entries.some((e) => e.path === unchanged), `${unchanged} is not in the layer`);
    }
    // Parents come along with their modes and owners (the recorded ones where the disk did not keep them).
    assert.deepEqual(byPath.get('directory home/user'), { path: 'home/user', type: 'directory', mode: 0o700, uid: 1000, gid: 1000 });
    assert.equal(byPath.get('directory modes')?.mode, 0o700);
    assert.equal(byPath.get('file etc/perm')?.mode, 0o4711);
    assert.deepEqual([byPath.get('file etc/owned')?.uid, byPath.get('file etc/owned')?.gid], [1234, 5678]);
    for (const e of changes.entries) {
      for (let dir = e.path.split('/').slice(0, -1).join('/'); dir !== ''; dir = dir.split('/').slice(0, -1).join('/')) {
        assert.ok(byPath.has(`directory ${dir}`), `${dir}, parent of ${e.path}, is in the layer`);
      }
    }

    const layer = await written(changes.entries, work.path);
    const names: string[] = [];
    await walkLayer(createReadStream(layer.file), { mediaType: layer.mediaType, digest: 'sha256:0' as never }, async (name, header, content) => {
      names.push(`${header.type} ${name}${header.linkname ? ` -> ${header.linkname}` : ''}`);
      content.resume();
    });
    assert.ok(names.includes('file remade/.wh..wh..opq'));
    assert.ok(names.includes('file .wh.olddir'));
    assert.ok(names.includes('file etc/.wh.gone'));
    assert.ok(names.includes('link new/two -> new/one'));
    const paths = names.map((n) => n.split(' ')[1] as string);
    assert.deepEqual([...paths].sort(comparePaths), paths, 'tar entries in path order');

    const replay = join(work.path, 'replay');
    await materialize(replay, [bufferLayer(baseTar), layer]);
    assert.deepEqual(await describeTree(replay), await describeTree(root), 'the pipes too');
  });

  test('a snapshot stops when its signal aborts', async () => {
    const root = join(work.path, 'aborted');
    await materialize(root, [bufferLayer(baseTar)]);
    await assert.rejects(snapshotTree(root, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  });

  test('an unchanged tree gives an empty diff', async () => {
    const root = join(work.path, 'unchanged');
    await materialize(root, [bufferLayer(baseTar)]);
    const snapshot = await snapshotTree(root);
    await readFile(join(root, 'etc/conf')); // reading changes nothing
    assert.deepEqual(await diffTree(snapshot), { entries: [], notices: [], skipped: [] });
  });

  test('whiteouts name the real path, never one through a symlink, and applying them stays inside the root', async () => {
    const host = join(work.path, 'host');
    await mkdir(join(host, 'sub'), { recursive: true });
    await writeFile(join(host, 'f'), 'host file\n');
    await writeFile(join(host, 'sub/g'), 'host file\n');
    const hostBefore = await describeTree(host);
    const layer: Entry[] = [
      { name: 'real/', type: 'directory' },
      { name: 'real/f', content: 'f\n' },
      { name: 'real/sub/', type: 'directory' },
      { name: 'real/sub/g', content: 'g\n' },
      { name: 'via', type: 'symlink', linkname: 'real' },
      { name: 'abs', type: 'symlink', linkname: host },
      { name: 'becomes-link/', type: 'directory' },
      { name: 'becomes-link/f', content: 'f\n' },
    ];
    const tar = await tarOf(layer);
    const root = join(work.path, 'linked');
    await materialize(root, [bufferLayer(tar)]);
    const snapshot = await snapshotTree(root);
    await rm(join(root, 'via/f')); // deleted through the link
    await rm(join(root, 'real/sub'), { recursive: true });
    await rm(join(root, 'becomes-link'), { recursive: true });
    await symlink(host, join(root, 'becomes-link')); // a directory replaced by a link out of the root
    const changes = await diffTree(snapshot);
    assert.deepEqual(
      changes.entries.filter((e) => e.type === 'whiteout').map((e) => e.path),
      ['real/f', 'real/sub'],
    );
    assert.deepEqual(changes.entries.find((e) => e.path === 'becomes-link'), { path: 'becomes-link', type: 'symlink', linkname: host, mode: 0o777, uid: 0, gid: 0 });
    const replay = join(work.path, 'linked-replay');
    await materialize(replay, [bufferLayer(tar), await written(changes.entries, work.path, 'linked.tar.gz')]);
    assert.deepEqual(await describeTree(replay), await describeTree(root));
    assert.deepEqual(await describeTree(host), hostBefore, 'nothing outside the root changed');
  });

  test('excluded paths are neither walked nor whited out', async () => {
    const root = join(work.path, 'excluded');
    await materialize(root, [bufferLayer(baseTar)]);
    const snapshot = await snapshotTree(root, { exclude: ['/tmp', 'etc/conf'] });
    assert.ok(!snapshot.entries.has('tmp') && !snapshot.entries.has('etc/conf'));
    await rm(join(root, 'tmp'), { recursive: true });
    await writeFile(join(root, 'etc/conf'), 'changed\n');
    assert.deepEqual(await diffTree(snapshot), { entries: [], notices: [], skipped: [] });
  });

  test('unprivileged: owners on disk map into the image, recorded facts stay for untouched values', async () => {
    const root = join(work.path, 'mapped');
    const recorded = await materialize(root, [bufferLayer(baseTar)]);
    // As a step in a user namespace without subordinate ids would leave it: every file the host user's.
    await lchown(join(root, 'home/user/.profile'), 4242, 4242);
    const snapshot = await snapshotTree(root);
    await writeFile(join(root, 'home/user/.profile'), 'export A=3\n');
    await writeFile(join(root, 'home/user/new'), 'new\n');
    await chown(join(root, 'home/user/new'), 4242, 4242);
    const changes = await diffTree(snapshot, { recorded, mapOwner: () => ({ uid: 0, gid: 0 }) });
    const owner = (path: string) => changes.entries.filter((e) => e.path === path).map((e) => `${e.mode.toString(8)} ${e.uid}:${e.gid}`);
    assert.deepEqual(owner('home/user/.profile'), ['600 1000:1000']);
    assert.deepEqual(owner('home/user/new'), ['644 0:0']);
    assert.deepEqual(owner('home/user'), ['700 1000:1000']);
  });

  test('kept owners (what a step set on a path handed back to the caller) win over the disk and the recorded facts', async () => {
    const root = join(work.path, 'kept');
    const recorded = await materialize(root, [bufferLayer(baseTar)]);
    await lchown(join(root, 'home/user/.profile'), 4242, 4242);
    const snapshot = await snapshotTree(root);
    // The step gave it owner 7 and changed it; the disk shows the caller again, as before the step.
    await writeFile(join(root, 'home/user/.profile'), 'export A=4\n');
    const keptOwners = new Map([['home/user/.profile', { uid: 7, gid: 8 }]]);
    const changes = await diffTree(snapshot, { recorded, mapOwner: () => ({ uid: 0, gid: 0 }), keptOwners });
    const owner = (path: string) => changes.entries.filter((e) => e.path === path).map((e) => `${e.mode.toString(8)} ${e.uid}:${e.gid}`);
    assert.deepEqual(owner('home/user/.profile'), ['600 7:8']);
    assert.deepEqual(owner('home/user'), ['700 1000:1000']);
  });
});
