// What a build step changed, read from the upper directory of the overlay it ran on rather than by
// snapshotting the whole tree twice (diff.ts): the upper holds only what the step touched. The
// layer comes out as diff.ts makes it from the same step: added and changed paths, deletions as
// `.wh.` whiteouts (overlay's 0/0 character devices), a directory removed and made again as an
// opaque directory (`trusted.overlay.opaque`) holding its new contents, parents with their modes
// and owners. What the step only copied up (opened for writing, chmod to the same mode) and left
// as it was is not a change. overlayfs breaks hard links on copy-up: a changed file that had
// other names in the lower layers gets them back as links in the layer, and `linkFixups` says
// which links the caller must make in the merged tree so the next step sees them too.
import { closeSync, lstatSync, openSync, readSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { join, posix } from 'node:path';
import { layerEntriesOf, type ChangedPath, type DiffNotice, type RecordedOwner, type TreeChanges } from './diff.js';
import { comparePaths } from './writer.js';
import { typeOf, yielder, type NodeType } from './snapshot.js';
import { readOpaqueDirs, readXattrs } from './xattrs.js';

export interface UpperDiffInput {
  /** The step's upper directory (a real path). */
  readonly upper: string;
  /** The tree as it was before the step (the lower layers merged, read-only; or the one lower layer). */
  readonly before: string;
  /** The tree as it is now (the step's overlay mount). */
  readonly merged: string;
  /** The lower layer directories: where the other names of a file with hard links are looked for. */
  readonly lowers: readonly string[];
  readonly signal?: AbortSignal;
}

export interface UpperChanges extends TreeChanges {
  /** Hard links the layer records that the merged tree lost on copy-up: `path` must become a link to `target`. */
  readonly linkFixups: readonly { readonly path: string; readonly target: string }[];
}

const KEPT_TYPES: ReadonlySet<NodeType> = new Set(['file', 'directory', 'symlink', 'fifo']);

function isWhiteout(stats: BigIntStats): boolean {
  return stats.isCharacterDevice() && stats.rdev === 0n;
}

function parentOf(path: string): string {
  const dir = posix.dirname(path);
  return dir === '.' ? '' : dir;
}

function lstatOrUndefined(path: string): BigIntStats | undefined {
  try {
    return lstatSync(path, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined; // below a file, or a name that is not UTF-8
  }
}

/** lstat of paths below `root`, remembered, and undefined for a path whose parent is not a real directory. */
function lookup(root: string): (path: string) => BigIntStats | undefined {
  const known = new Map<string, BigIntStats | undefined>();
  const at = (path: string): BigIntStats | undefined => {
    if (known.has(path)) return known.get(path);
    const parent = parentOf(path);
    const stats = parent === '' || at(parent)?.isDirectory() ? lstatOrUndefined(join(root, path)) : undefined;
    known.set(path, stats);
    return stats;
  };
  return at;
}

/** Every path below `root` with its lstat, parents before children; unreadable names apart. */
async function walk(root: string, signal: AbortSignal | undefined): Promise<{ entries: Map<string, BigIntStats>; unreadable: string[] }> {
  const entries = new Map<string, BigIntStats>();
  const unreadable: string[] = [];
  const pause = yielder(signal);
  const directories = [''];
  for (let dir = directories.pop(); dir !== undefined; dir = directories.pop()) {
    for (const name of readdirSync(join(root, dir))) {
      await pause();
      const rel = dir === '' ? name : `${dir}/${name}`;
      const stats = lstatOrUndefined(join(root, rel));
      if (!stats) {
        unreadable.push(rel);
        continue;
      }
      entries.set(rel, stats);
      if (stats.isDirectory()) directories.push(rel);
    }
  }
  return { entries, unreadable };
}

/** Whether two regular files hold the same bytes (read in chunks, never whole). */
function sameBytes(a: string, b: string): boolean {
  const fa = openSync(a, 'r');
  try {
    const fb = openSync(b, 'r');
    try {
      const ba = Buffer.allocUnsafe(1 << 16);
      const bb = Buffer.allocUnsafe(1 << 16);
      for (;;) {
        const na = readSync(fa, ba, 0, ba.length, null);
        let nb = 0;
        while (nb < na) {
          const n = readSync(fb, bb, nb, na - nb, null);
          if (n === 0) break;
          nb += n;
        }
        if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, nb))) return false;
        if (na === 0) return readSync(fb, bb, 0, 1, null) === 0;
      }
    } finally {
      closeSync(fb);
    }
  } finally {
    closeSync(fa);
  }
}

function sameXattrs(a: ReadonlyMap<string, Buffer> | undefined, b: ReadonlyMap<string, Buffer> | undefined): boolean {
  if ((a?.size ?? 0) !== (b?.size ?? 0)) return false;
  for (const [name, value] of a ?? []) if (!b?.get(name)?.equals(value)) return false;
  return true;
}

function ownerOf(stats: BigIntStats): RecordedOwner {
  return { mode: Number(stats.mode & 0o7777n), uid: Number(stats.uid), gid: Number(stats.gid) };
}

function changedPath(stats: BigIntStats, source: string, linkname: string | undefined, nlink = Number(stats.nlink)): ChangedPath {
  return { type: typeOf(stats), mode: Number(stats.mode & 0o7777n), uid: Number(stats.uid), gid: Number(stats.gid), size: Number(stats.size), nlink, linkname, inode: `${stats.dev}:${stats.ino}`, source };
}

/** Paths below each lower layer directory by inode: built once, only when a copied-up file had hard links. */
async function inodeIndex(lowers: readonly string[], signal: AbortSignal | undefined): Promise<Map<bigint, string[]>> {
  const byInode = new Map<bigint, string[]>();
  for (const lower of lowers) {
    const { entries } = await walk(lower, signal);
    for (const [rel, stats] of entries) {
      if (!stats.isFile() || stats.nlink < 2n) continue;
      const paths = byInode.get(stats.ino) ?? [];
      paths.push(rel);
      byInode.set(stats.ino, paths);
    }
  }
  return byInode;
}

/** The changes the step made, from its overlay's upper directory; see the top of this file. */
export async function diffUpper(input: UpperDiffInput): Promise<UpperChanges> {
  const { upper, before, merged, signal } = input;
  const io = signal ? { signal } : {};
  const walked = await walk(upper, signal);
  const notices: DiffNotice[] = walked.unreadable.map((path) => ({ path, type: 'unreadable', message: `${JSON.stringify(path)} could not be read (it vanished, or its name is not UTF-8): left out of the layer` }));
  // What a path was before the step, and is now in the merged tree; looked up only below real
  // directories, so a link the image or the step made on the way is never followed to the host.
  const wasAt = lookup(before);
  const nowAt = lookup(merged);
  // Opaque only matters for a directory that hid one below it.
  const dirsOverLower = [...walked.entries].filter(([path, s]) => s.isDirectory() && wasAt(path)?.isDirectory()).map(([path]) => join(upper, path));
  const opaqueHosts = dirsOverLower.length > 0 ? await readOpaqueDirs(dirsOverLower, io) : new Set<string>();

  const changed = new Map<string, ChangedPath>();
  const hostOf = new Map<string, string>();
  const opaque: string[] = [];
  const whiteouts: string[] = [];
  const rebuilt = new Set<string>();
  const unchangedIfSame: string[] = [];
  const emit = (path: string, stats: BigIntStats) => {
    const host = join(upper, path);
    hostOf.set(path, host);
    changed.set(path, changedPath(stats, host, stats.isSymbolicLink() ? readlinkSync(host) : undefined));
  };
  for (const path of [...walked.entries.keys()].sort(comparePaths)) {
    const now = walked.entries.get(path)!;
    const inRebuilt = rebuilt.has(parentOf(path));
    const old = inRebuilt ? undefined : wasAt(path);
    const oldKept = old !== undefined && KEPT_TYPES.has(typeOf(old));
    if (isWhiteout(now)) {
      if (oldKept) whiteouts.push(path);
      continue;
    }
    const type = typeOf(now);
    if (!KEPT_TYPES.has(type)) {
      notices.push({ path, type, message: `${JSON.stringify(path)} is a ${type}: left out of the layer` });
      if (oldKept) whiteouts.push(path); // what it replaced is gone
      continue;
    }
    if (old === undefined || typeOf(old) !== type) {
      emit(path, now);
      if (type === 'directory') rebuilt.add(path);
    } else if (type === 'directory') {
      if (opaqueHosts.has(join(upper, path))) {
        emit(path, now);
        opaque.push(path);
        rebuilt.add(path);
      } else if (old.mode !== now.mode || old.uid !== now.uid || old.gid !== now.gid) emit(path, now);
    } else if (type === 'file' && now.nlink === 1n && old.mode === now.mode && old.uid === now.uid && old.gid === now.gid && old.size === now.size && old.mtimeNs === now.mtimeNs) {
      unchangedIfSame.push(path); // copied up; changed only if its bytes or attributes differ
    } else emit(path, now);
  }

  // Copied up and left alone: same bytes and same kept attributes as below.
  const sameSoFar = unchangedIfSame.filter((path) => sameBytes(join(upper, path), join(before, path)));
  const differing = new Set(unchangedIfSame.filter((path) => !sameSoFar.includes(path)));
  if (sameSoFar.length > 0) {
    const nowAttrs = await readXattrs(sameSoFar.map((p) => join(upper, p)), io);
    const oldAttrs = await readXattrs(sameSoFar.map((p) => join(before, p)), io);
    for (const path of sameSoFar) if (!sameXattrs(nowAttrs.get(join(upper, path)), oldAttrs.get(join(before, path)))) differing.add(path);
  }
  for (const path of differing) emit(path, walked.entries.get(path)!);

  // Hard links the copy-up broke: the other names of a changed file's lower inode that the step
  // left as they were still show the old file; in copy mode they are the same file, changed.
  const linkFixups: { path: string; target: string }[] = [];
  const broken = [...changed].filter(([path, c]) => c.type === 'file' && wasAt(path)?.isFile() && wasAt(path)!.nlink > 1n && !rebuilt.has(parentOf(path)));
  if (broken.length > 0) {
    const byInode = await inodeIndex(input.lowers, signal);
    for (const [path, c] of broken) {
      const ino = wasAt(path)!.ino;
      const others = (byInode.get(ino) ?? []).filter((other) => other !== path && !changed.has(other) && wasAt(other)?.ino === ino && nowAt(other)?.ino === ino);
      if (others.length === 0) continue;
      const shared = { ...c, nlink: Math.max(c.nlink, 2) };
      changed.set(path, shared);
      for (const other of others) {
        changed.set(other, shared);
        hostOf.set(other, c.source);
        linkFixups.push({ path: other, target: path });
      }
    }
  }

  const ownerAt = (path: string): RecordedOwner => {
    const c = changed.get(path);
    if (c) return { mode: c.mode, uid: c.uid, gid: c.gid };
    const inUpper = walked.entries.get(path);
    if (inUpper) return ownerOf(inUpper);
    // A parent the step never touched (of a restored hard link): as the lower layers have it.
    hostOf.set(path, join(before, path));
    return ownerOf(wasAt(path) ?? nowAt(path)!);
  };
  const entries = layerEntriesOf(changed, opaque, whiteouts, ownerAt);
  for (const e of entries) if (e.type === 'directory' && !hostOf.has(e.path)) hostOf.set(e.path, join(upper, e.path));

  // Kept attributes of the files and directories the layer holds, where the tree has them now.
  const holders = entries.filter((e) => (e.type === 'file' || e.type === 'directory') && hostOf.has(e.path));
  const found = holders.length > 0 ? await readXattrs(holders.map((e) => hostOf.get(e.path)!), io) : new Map<string, Map<string, Buffer>>();
  const withXattrs = found.size === 0 ? entries : entries.map((e) => {
    const attrs = (e.type === 'file' || e.type === 'directory') && hostOf.has(e.path) ? found.get(hostOf.get(e.path)!) : undefined;
    return attrs ? { ...e, xattrs: attrs } : e;
  });
  const skipped = notices.filter((n) => n.type !== 'unreadable').map((n) => n.path);
  return { entries: withXattrs, notices, skipped, linkFixups };
}
