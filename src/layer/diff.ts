// What a build step changed in a tree, as the entries of one layer: the tree is snapshotted before
// the step (snapshot.ts) and compared with itself afterwards. Added and changed paths become
// files, directories, symlinks and hard links; deleted ones `.wh.` whiteouts (one for a deleted
// directory, not one per child); a directory removed and made again an opaque directory holding
// its new contents. The parents of every entry come along with their modes and owners, as
// BuildKit's differ writes them. Nothing here writes to the tree; files are read later, by
// writeLayer, from where the tree has them.
import { join, posix } from 'node:path';
import { comparePaths, tarPathOf, type LayerEntry } from './writer.js';
import { snapshotTree, type NodeType, type Snapshot, type SnapshotEntry } from './snapshot.js';
import { readXattrs } from './xattrs.js';

/** A path the layer cannot hold, and why. */
export interface DiffNotice {
  readonly path: string;
  readonly type: NodeType | 'unreadable';
  readonly message: string;
}

export interface TreeChanges {
  /** Sorted in tar order (writer.ts's tarPathOf); every entry's parent directories included. */
  readonly entries: readonly LayerEntry[];
  /** Devices and sockets left out; names that could not be read. */
  readonly notices: readonly DiffNotice[];
  /** The paths of the devices and sockets left out (each also has a notice). */
  readonly skipped: readonly string[];
}

/** Mode and owner the layer should record for a path, where the disk may not keep them. */
export interface RecordedOwner {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export interface DiffOptions {
  /**
   * What the base's headers said (applyLayer's `record`) for paths the disk could not keep as
   * written (a step run without real ownership, directories made under a umask). A fact is used
   * for a path whose file is still the one the first snapshot saw and whose value on disk the
   * step did not change; a value the step changed comes from the disk.
   */
  readonly recorded?: ReadonlyMap<string, RecordedOwner>;
  /**
   * The owner inside the image of an owner on disk: a step run in a user namespace without
   * subordinate ids (every id is root), or with them (host ids of the ranges).
   */
  readonly mapOwner?: (uid: number, gid: number) => { readonly uid: number; readonly gid: number };
  /** Owners the step set that the disk no longer shows (handed back to the caller to be read), by path: they win. */
  readonly keptOwners?: ReadonlyMap<string, { readonly uid: number; readonly gid: number }>;
  /** Entries the caller owns but cannot read are opened to it as the second snapshot walks (snapshot.ts), and recorded as found. */
  readonly openToOwner?: boolean;
  readonly signal?: AbortSignal;
}

function parentOf(path: string): string {
  const dir = posix.dirname(path);
  return dir === '.' ? '' : dir;
}

/** The same file, not one made again that got its inode number back (the creation time tells). */
function sameFile(a: SnapshotEntry, b: SnapshotEntry): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.birthtimeNs === b.birthtimeNs;
}

/**
 * Whether a non-directory changed. Identity (inode and device): a file replaced by rename, as
 * package managers and `sed -i` do, even with the same size and time. Size and mtime: writes in
 * place. ctime: every change to the inode the kernel sees — writes that put the mtime back
 * (`touch -r`, `cp -p`, tar), chmod, chown, and a hard link made to or removed from it, so a file
 * a new link names is in the layer for that link to point at. Type, mode, owner and link text
 * are compared too, for trees whose times cannot be trusted.
 */
function fileChanged(a: SnapshotEntry, b: SnapshotEntry): boolean {
  return !sameFile(a, b) || a.size !== b.size || a.mtimeNs !== b.mtimeNs || a.ctimeNs !== b.ctimeNs || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.linkname !== b.linkname;
}

/** A directory's own change: its mode or owner (its times move with its children, which speak for themselves). */
function directoryChanged(a: SnapshotEntry, b: SnapshotEntry): boolean {
  return a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid;
}

/** What a layer can hold; devices and sockets are left out with a notice (a socket means nothing without its process; a device node is the runtime's to make). */
const KEPT_TYPES: ReadonlySet<NodeType> = new Set(['file', 'directory', 'symlink', 'fifo']);

/** The changes from `before` to `after`, two snapshots of the same tree. */
export function diffSnapshots(before: Snapshot, after: Snapshot, options: Omit<DiffOptions, 'signal'> = {}): TreeChanges {
  const notices: DiffNotice[] = after.unreadable.map((path) => ({ path, type: 'unreadable', message: `${JSON.stringify(path)} could not be read (it vanished, or its name is not UTF-8): left out of the layer` }));
  const emitted = new Map<string, SnapshotEntry>();
  const opaque: string[] = [];
  const whiteouts: string[] = [];
  /** Directories whose whole content goes into the layer: new, replacing a non-directory, or made again (opaque). */
  const rebuilt = new Set<string>();

  // Parents sort before their children ('a' < 'a/b'), so a directory is judged before what it holds.
  const afterPaths = [...after.entries.keys()].sort(comparePaths);
  for (const path of afterPaths) {
    const now = after.entries.get(path) as SnapshotEntry;
    const was = rebuilt.has(parentOf(path)) ? undefined : before.entries.get(path);
    if (!KEPT_TYPES.has(now.type)) {
      notices.push({ path, type: now.type, message: `${JSON.stringify(path)} is a ${now.type}: left out of the layer` });
      if (was && KEPT_TYPES.has(was.type) && !rebuilt.has(parentOf(path))) whiteouts.push(path); // what it replaced is gone
      continue;
    }
    if (was === undefined || was.type !== now.type) {
      emitted.set(path, now);
      if (now.type === 'directory') rebuilt.add(path);
    } else if (now.type === 'directory') {
      if (!sameFile(was, now)) {
        emitted.set(path, now);
        opaque.push(path);
        rebuilt.add(path);
      } else if (directoryChanged(was, now)) emitted.set(path, now);
    } else if (fileChanged(was, now)) emitted.set(path, now);
  }

  // A deleted path needs a whiteout only where its parent is the directory lower layers know:
  // below a deleted, replaced or rebuilt directory it is gone already.
  for (const path of before.entries.keys()) {
    if (after.entries.has(path)) continue;
    const parent = parentOf(path);
    if (parent === '' || (after.entries.get(parent)?.type === 'directory' && !rebuilt.has(parent))) whiteouts.push(path);
  }

  const changed = new Map<string, ChangedPath>();
  for (const [path, now] of emitted) changed.set(path, { ...now, inode: `${now.dev}:${now.ino}`, source: join(after.root, path) });
  const entries = layerEntriesOf(changed, opaque, whiteouts, (path) => ownerOf(path, after.entries.get(path) as SnapshotEntry, before.entries.get(path), options));
  const skipped = notices.filter((n) => n.type !== 'unreadable').map((n) => n.path);
  return { entries, notices, skipped };
}

/** A path a layer holds, as the disk has it now. */
export interface ChangedPath {
  readonly type: NodeType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly nlink: number;
  readonly linkname: string | undefined;
  /** The file's identity: paths of the layer sharing it are hard links of one file. */
  readonly inode: string;
  /** Where a file's bytes are read from. */
  readonly source: string;
}

/**
 * The entries of a layer holding `changed` (files, directories, links, pipes), `opaque`
 * directories and `whiteouts`, in tar order, with every parent directory; `owner` gives the mode
 * and owner to record for a path (changed or parent). Hard links: the first path (in tar order)
 * of each file the layer holds carries the bytes, the others link to it.
 */
export function layerEntriesOf(changed: ReadonlyMap<string, ChangedPath>, opaque: readonly string[], whiteouts: readonly string[], owner: (path: string) => RecordedOwner): LayerEntry[] {
  const entries: LayerEntry[] = [];
  const firstOfInode = new Map<string, string>();
  const listed = new Set<string>();
  for (const path of [...changed.keys()].sort(comparePaths)) {
    const now = changed.get(path) as ChangedPath;
    listed.add(path);
    const facts = owner(path);
    if (now.type === 'directory') entries.push({ path, type: 'directory', ...facts });
    else if (now.type === 'symlink') entries.push({ path, type: 'symlink', linkname: now.linkname ?? '', ...facts });
    else if (now.type === 'fifo') entries.push({ path, type: 'fifo', ...facts });
    else {
      const first = now.nlink > 1 ? firstOfInode.get(now.inode) : undefined;
      if (first !== undefined) entries.push({ path, type: 'link', linkname: first, ...facts });
      else {
        if (now.nlink > 1) firstOfInode.set(now.inode, path);
        entries.push({ path, type: 'file', source: now.source, size: now.size, ...facts });
      }
    }
  }
  for (const path of opaque) entries.push({ path, type: 'opaque', mode: 0, uid: 0, gid: 0 });
  for (const path of whiteouts) entries.push({ path, type: 'whiteout', mode: 0, uid: 0, gid: 0 });

  // Parent directories, with the modes and owners they have now.
  for (const entry of [...entries]) {
    const own = entry.type === 'opaque' ? entry.path : parentOf(entry.path);
    for (let dir = own; dir !== '' && !listed.has(dir); dir = parentOf(dir)) {
      listed.add(dir);
      entries.push({ path: dir, type: 'directory', ...owner(dir) });
    }
  }
  entries.sort((a, b) => comparePaths(tarPathOf(a), tarPathOf(b)));
  return entries;
}

function ownerOf(path: string, now: SnapshotEntry, was: SnapshotEntry | undefined, options: Omit<DiffOptions, 'signal'>): RecordedOwner {
  const kept = options.keptOwners?.get(path);
  const mapped = kept ?? (options.mapOwner ? options.mapOwner(now.uid, now.gid) : { uid: now.uid, gid: now.gid });
  const known = options.recorded?.get(path);
  if (!known || !was || !sameFile(was, now) || was.type !== now.type) return { mode: now.mode, uid: mapped.uid, gid: mapped.gid };
  return {
    mode: was.mode === now.mode ? known.mode : now.mode,
    uid: was.uid === now.uid && kept === undefined ? known.uid : mapped.uid,
    gid: was.gid === now.gid && kept === undefined ? known.gid : mapped.gid,
  };
}

/**
 * The changes made to `before.root` since `before` was taken (same exclusions), with the kept
 * extended attributes (xattrs.ts) of the files and directories the layer holds: a change to
 * attributes alone moves a file's ctime, so it is among them.
 */
export async function diffTree(before: Snapshot, options: DiffOptions = {}): Promise<TreeChanges> {
  const io = options.signal ? { signal: options.signal } : {};
  const after = await snapshotTree(before.root, { exclude: before.exclude, ...(options.openToOwner ? { openToOwner: 'found' as const } : {}), ...io });
  const changes = diffSnapshots(before, after, options);
  const holders = changes.entries.filter((e) => e.type === 'file' || e.type === 'directory').map((e) => join(after.root, e.path));
  const found = holders.length > 0 ? await readXattrs(holders, io) : new Map();
  if (found.size === 0) return changes;
  return { ...changes, entries: changes.entries.map((e) => (found.has(join(after.root, e.path)) && (e.type === 'file' || e.type === 'directory') ? { ...e, xattrs: found.get(join(after.root, e.path))! } : e)) };
}
