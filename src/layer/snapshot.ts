// What a directory tree holds, path by path, as lstat sees it: taken before a build step runs and
// compared with the tree afterwards (diff.ts) to find what the step changed. Links are never
// followed (a symlink is recorded as a link, its target as text), so a tree a hostile base image
// made cannot lead the walk outside it. Extended attributes are not read: Node has no call for them.
import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BigIntStats } from 'node:fs';

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
  readonly signal?: AbortSignal;
}

/**
 * File times come from the kernel's coarse clock, which moves one tick (1 to 10 ms) at a time: a
 * change made within the tick of a file's last change leaves its ctime as it was. Twice the
 * longest tick.
 */
const CLOCK_TICK_NS = 20_000_000n;

/** How many lstat/readdir calls run at once: enough to keep the thread pool busy. */
const CONCURRENCY = 16;

function typeOf(stats: BigIntStats): NodeType {
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
 * Records every path below `root` with lstat, never following a link. Directories are read a few
 * at a time; memory grows by one small record per path. A name that disappears during the walk
 * (or is not valid UTF-8, so cannot be named as a string) is listed in `unreadable`.
 */
export async function snapshotTree(root: string, options: SnapshotOptions = {}): Promise<Snapshot> {
  const base = await realpath(root);
  const exclude = (options.exclude ?? []).map(normalized).filter((p) => p !== '' && p !== '.');
  const excluded = new Set(exclude);
  const entries = new Map<string, SnapshotEntry>();
  const unreadable: string[] = [];
  const pending: string[] = []; // relative paths still to lstat
  const directories: string[] = ['']; // relative directories still to read
  let failure: unknown;

  const record = async (rel: string): Promise<void> => {
    const host = join(base, rel);
    let stats: BigIntStats;
    try {
      stats = await lstat(host, { bigint: true });
    } catch (error) {
      if (!isMissing(error)) throw error;
      unreadable.push(rel);
      return;
    }
    const type = typeOf(stats);
    let linkname: string | undefined;
    if (type === 'symlink') {
      try {
        linkname = await readlink(host);
      } catch (error) {
        if (!isMissing(error)) throw error;
        unreadable.push(rel);
        return;
      }
    }
    entries.set(rel, new Entry(type, Number(stats.mode & 0o7777n), Number(stats.uid), Number(stats.gid), Number(stats.size), Number(stats.nlink), stats.mtimeNs, stats.ctimeNs, stats.ino, stats.dev, linkname));
    if (type === 'directory') directories.push(rel);
  };

  const list = async (dir: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(join(base, dir));
    } catch (error) {
      if (!isMissing(error)) throw error;
      return; // replaced while walking: its own entry says what it was
    }
    for (const name of names) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      if (!excluded.has(rel)) pending.push(rel); // a name that is not UTF-8 fails lstat as decoded: unreadable
    }
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      if (failure !== undefined) return;
      options.signal?.throwIfAborted();
      const rel = pending.pop();
      if (rel !== undefined) {
        await record(rel);
        continue;
      }
      const dir = directories.pop();
      if (dir !== undefined) {
        await list(dir);
        continue;
      }
      return;
    }
  };

  // Workers stop when both queues are empty, though another worker may still be about to add to
  // them: run rounds until a round finds nothing left.
  while (pending.length > 0 || directories.length > 0) {
    await Promise.all(
      Array.from({ length: CONCURRENCY }, () =>
        worker().catch((error: unknown) => {
          failure ??= error;
        }),
      ),
    );
    if (failure !== undefined) throw failure;
  }
  // Return only once the clock has moved past the newest ctime seen, so that any change made after
  // this snapshot gives a different ctime (ctime cannot be set from user space; mtime can).
  let newest = 0n;
  for (const entry of entries.values()) if (entry.ctimeNs > newest) newest = entry.ctimeNs;
  const wait = newest + CLOCK_TICK_NS - BigInt(Date.now()) * 1_000_000n;
  if (wait > 0n) await sleep(Number(wait > CLOCK_TICK_NS ? CLOCK_TICK_NS : wait) / 1e6 + 1, undefined, options.signal ? { signal: options.signal } : {});
  return { root: base, entries, exclude, unreadable };
}
