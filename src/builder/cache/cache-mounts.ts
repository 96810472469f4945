// Persistent directories for `RUN --mount=type=cache`, in the build cache: one folder per cache id
// and platform, named by a hash (the id is Dockerfile text and never becomes a path), holding
// numbered instances (`0`, `1`, …) and, beside each, a lock file naming its user's pid.
//   shared: every step uses instance 0 at once.
//   locked: one step at a time uses instance 0; others wait (across processes too).
//   private: a step takes the first instance no one holds, made fresh when all are taken.
// What a step leaves in an instance is hostile: nothing here ever reads or follows what is in it,
// and removal (prune --all) unlinks entries without following links.
import { createHash } from 'node:crypto';
import { chmod, chown, lstat, mkdir, open, readFile, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isProcessAlive } from '../../internal/process-alive.js';
import { formatPlatform, type Platform } from '../../platform/platform.js';
import type { CacheSharing } from '../instructions/run-flags.js';
import { makeDirectories } from '../../internal/make-directories.js';
import { removeTreeNoFollow } from '../../internal/remove-tree.js';

/** The folder of the build cache that holds the cache mounts. */
export const CACHE_MOUNTS_DIR = 'polyarch-cache-mounts';

export interface CacheMountRequest {
  readonly id: string;
  readonly platform: Platform;
  readonly sharing: CacheSharing;
  /** Applied when the instance is made (BuildKit: mode 0755, owner 0:0 unless given). */
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** Fills a new instance (`from=`); called with the new, empty directory. */
  readonly seed?: (dir: string) => Promise<void>;
  readonly signal?: AbortSignal;
}

export interface CacheMountLease {
  /** The instance's directory: mount it. */
  readonly dir: string;
  release(): Promise<void>;
}

/** The folder of one cache id on one platform. */
function folderOf(cacheDir: string, id: string, platform: Platform): string {
  const hash = createHash('sha256').update(`${formatPlatform(platform)}\n${id}`).digest('hex');
  return join(cacheDir, CACHE_MOUNTS_DIR, hash);
}

/** Instances in use by this process: a private step skips them, a locked one waits. */
const inUse = new Map<string, number>();

async function tryLock(path: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // A lock left by a process that is gone is broken.
    const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !isProcessAlive(pid)) {
      await rm(path, { force: true });
      return tryLock(path);
    }
    return false;
  }
  try {
    await handle.writeFile(String(process.pid));
  } finally {
    await handle.close();
  }
  return true;
}

/** Makes instance `dir` when it is missing (mode, owner, seed), as a real directory of ours. */
async function ensureInstance(dir: string, request: CacheMountRequest): Promise<void> {
  const facts = await lstat(dir).catch(() => undefined);
  if (facts?.isDirectory()) return;
  if (facts) await rm(dir, { force: true });
  await mkdir(dir);
  if (request.uid !== undefined || request.gid !== undefined) {
    // Only root can give a directory away; an ordinary user's steps see their own files anyway.
    await chown(dir, request.uid ?? 0, request.gid ?? 0).catch(() => undefined);
  }
  await chmod(dir, request.mode ?? 0o755);
  await request.seed?.(dir);
}

/** Takes a cache mount instance for a step; release it when the step has ended. */
export async function acquireCacheMount(cacheDir: string, request: CacheMountRequest): Promise<CacheMountLease> {
  const folder = folderOf(cacheDir, request.id, request.platform);
  await makeDirectories(folder);
  const take = async (n: number, locked: boolean): Promise<CacheMountLease> => {
    const dir = join(folder, String(n));
    inUse.set(dir, (inUse.get(dir) ?? 0) + 1);
    const release = async () => {
      const left = (inUse.get(dir) ?? 1) - 1;
      if (left === 0) inUse.delete(dir);
      else inUse.set(dir, left);
      if (locked) await rm(`${dir}.lock`, { force: true });
    };
    try {
      await ensureInstance(dir, request);
    } catch (error) {
      await release();
      throw error;
    }
    return { dir, release };
  };
  if (request.sharing === 'shared') return take(0, false);
  if (request.sharing === 'locked') {
    for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
      request.signal?.throwIfAborted();
      if (!inUse.has(join(folder, '0')) && (await tryLock(join(folder, '0.lock')))) return take(0, true);
      await sleep(delay, undefined, request.signal ? { signal: request.signal } : {});
    }
  }
  for (let n = 0; ; n++) {
    if (!inUse.has(join(folder, String(n))) && (await tryLock(join(folder, `${n}.lock`)))) return take(n, true);
  }
}

/** Removes every cache mount of the build cache (prune --all; no build holds the cache then). Returns how many ids went. */
export async function removeCacheMounts(cacheDir: string): Promise<number> {
  const root = join(cacheDir, CACHE_MOUNTS_DIR);
  const facts = await lstat(root).catch(() => undefined);
  if (facts === undefined) return 0;
  if (!facts.isDirectory()) {
    await unlink(root).catch(() => undefined);
    return 0;
  }
  const ids = await readdir(root).catch(() => [] as string[]);
  await removeTreeNoFollow(root);
  return ids.length;
}
