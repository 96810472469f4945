// What a directory tree holds, path by path, as lstat sees it: taken before a build step runs and
// compared with the tree afterwards (diff.ts) to find what the step changed. Links are never
// followed (a symlink is recorded as a link, its target as text), so a tree a hostile base image
// made cannot lead the walk outside it. Extended attributes are read afterwards, for the changed
// paths only (diff.ts, xattrs.ts).
import { chmodSync, lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type NodeType = 'file' | 'directory' | 'symlink' | 'fifo' | 'socket' | 'char-device' | 'block-device';

/** One path's facts. Times are nanoseconds since the epoch; `ino` and `dev` identify the file itself. */
export interface SnapshotEntry {
  readonly type: NodeType;
  /** Permission bits with setuid, setgid and sticky (mode & 0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly nlink: number;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  readonly dev: bigint;
  /**
   * Creation time (0 where the file system keeps none): a file removed and made again may get
   * the same inode number at once, but never the same creation time.
   */
  readonly birthtimeNs: bigint;
  /** For symlinks: the target, as written. */
  readonly linkname: string | undefined;
}

export interface Snapshot {
  /** The tree's root as a real, symlink-free path. */
  readonly root: string;
  /** Every path below the root (relative, '/'-separated, no leading slash; the root itself is not listed). */
  readonly entries: ReadonlyMap<string, SnapshotEntry>;
  /** Paths left out with everything below them (mount points the caller owns). */
  readonly exclude: readonly string[];
  /** Names that vanished while the walk read them, or that cannot be named as text (not valid UTF-8). */
  readonly unreadable: readonly string[];
}

export interface SnapshotOptions {
  /** Relative paths to leave out, each with everything below it. */
  readonly exclude?: readonly string[];
  /**
   * For a caller without root, whose steps run as root in a namespace that maps it onto the
   * caller: entries the caller owns but could not read (a step's `chmod 000`, a base's 0000
   * directory) are given u+r (files) or u+rx (directories), so the walk can go on and the layer
   * can be written. `found` records each as it was found (after a step: its mode is the step's
   * doing, and goes into the layer); `opened` records it as opened (before a step: the step sees
   * it so, and an untouched entry must compare equal afterwards; the layers' recorded facts keep
   * its real mode). Root reads everything, and nothing is changed for it.
   */
  readonly openToOwner?: 'found' | 'opened';
  readonly signal?: AbortSignal;
}

/** Gives the caller read access to an entry it owns and could not read; true when it changed the mode. */
function openedToOwner(host: string, stats: BigIntStats): boolean {
  const mode = Number(stats.mode & 0o7777n);
  const wanted = stats.isDirectory() ? mode | 0o500 : stats.isFile() ? mode | 0o400 : mode;
  if (wanted === mode || Number(stats.uid) !== process.geteuid?.()) return false;
  chmodSync(host, wanted);
  return true;
}

/**
 * File times come from the kernel's coarse clock, which moves one tick (1 to 10 ms) at a time: a
 * change made within the tick of a file's last change leaves its ctime as it was. Twice the
 * longest tick.
 */
const CLOCK_TICK_NS = 20_000_000n;

/**
 * The walk makes synchronous lstat and readdir calls (several times faster than one promise a
 * call, far more so on a loaded machine) and gives the event loop back after this long.
 */
const SLICE_MS = 15;

/** For long synchronous walks: a function to await per step, which gives the event loop back after SLICE_MS. */
export function yielder(signal: AbortSignal | undefined): () => Promise<void> {
  let sliceStart = performance.now();
  let count = 0;
  return async () => {
    if ((++count & 0xff) !== 0 || performance.now() - sliceStart <= SLICE_MS) return;
    await new Promise((resume) => setImmediate(resume));
    signal?.throwIfAborted();
    sliceStart = performance.now();
  };
}

/** What kind of node lstat found. */
export function typeOf(stats: BigIntStats): NodeType {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'directory';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isFIFO()) return 'fifo';
  if (stats.isSocket()) return 'socket';
  if (stats.isCharacterDevice()) return 'char-device';
  return 'block-device';
}

/** Fixed-shape record: every instance shares one hidden class, so 100k of them stay small. */
class Entry implements SnapshotEntry {
  constructor(
    readonly type: NodeType,
    readonly mode: number,
    readonly uid: number,
    readonly gid: number,
    readonly size: number,
    readonly nlink: number,
    readonly mtimeNs: bigint,
    readonly ctimeNs: bigint,
    readonly ino: bigint,
    readonly dev: bigint,
    readonly birthtimeNs: bigint,
    readonly linkname: string | undefined,
  ) {}
}

function normalized(path: string): string {
  return posix.normalize(path.replace(/^\/+/, '')).replace(/\/+$/, '');
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Records every path below `root` with lstat, never following a link. Memory grows by one small
 * record per path; the event loop is given back every few milliseconds. A name that disappears
 * during the walk (or is not valid UTF-8, so cannot be named as a string) is listed in `unreadable`.
 */
export async function snapshotTree(root: string, options: SnapshotOptions = {}): Promise<Snapshot> {
  const base = await realpath(root);
  const exclude = (options.exclude ?? []).map(normalized).filter((p) => p !== '' && p !== '.');
  const excluded = new Set(exclude);
  const entries = new Map<string, SnapshotEntry>();
  const unreadable: string[] = [];
  const directories: string[] = ['']; // relative directories still to read
  const pause = yielder(options.signal);
  const open = process.geteuid?.() === 0 ? undefined : options.openToOwner;
  for (let dir = directories.pop(); dir !== undefined; dir = directories.pop()) {
    let names: string[];
    try {
      names = readdirSync(join(base, dir));
    } catch (error) {
      if (!isMissing(error)) throw error;
      continue; // replaced while walking: its own entry says what it was
    }
    for (const name of names) {
      await pause();
      const rel = dir === '' ? name : `${dir}/${name}`;
      if (excluded.has(rel)) continue;
      const host = join(base, rel);
      let stats: BigIntStats;
      let linkname: string | undefined;
      try {
        stats = lstatSync(host, { bigint: true });
        if (stats.isSymbolicLink()) linkname = readlinkSync(host);
        else if (open && openedToOwner(host, stats) && open === 'opened') stats = lstatSync(host, { bigint: true });
      } catch (error) {
        if (!isMissing(error)) throw error;
        unreadable.push(rel); // gone, or a name that is not UTF-8 (lstat of its decoded form fails)
        continue;
      }
      const type = typeOf(stats);
      entries.set(rel, new Entry(type, Number(stats.mode & 0o7777n), Number(stats.uid), Number(stats.gid), Number(stats.size), Number(stats.nlink), stats.mtimeNs, stats.ctimeNs, stats.ino, stats.dev, stats.birthtimeNs, linkname));
      if (type === 'directory') directories.push(rel);
    }
  }
  options.signal?.throwIfAborted();
  // Return only once the clock has moved past the newest ctime seen, so that any change made after
  // this snapshot gives a different ctime (ctime cannot be set from user space; mtime can).
  let newest = 0n;
  for (const entry of entries.values()) if (entry.ctimeNs > newest) newest = entry.ctimeNs;
  const wait = newest + CLOCK_TICK_NS - BigInt(Date.now()) * 1_000_000n;
  if (wait > 0n) await sleep(Number(wait > CLOCK_TICK_NS ? CLOCK_TICK_NS : wait) / 1e6 + 1, undefined, options.signal ? { signal: options.signal } : {});
  return { root: base, entries, exclude, unreadable };
}
