// A cross-process lock for index.json: `index.json.lock` created with 'wx', holding the owner's
// pid. A lock whose owner is gone (a crash) is broken; waiting is bounded and ends in a clear error.
import { lstat, open, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PolyarchError } from '../errors/polyarch-error.js';
import { isProcessAlive } from '../internal/process-alive.js';
import { readRegularBytes } from '../internal/regular-file.js';

export const LOCK_NAME = 'index.json.lock';
const DEFAULT_WAIT_MS = 30_000;
// A lock file with no pid yet is normal for an instant; one that stays empty this long is a crash.
const EMPTY_LOCK_GRACE_MS = 5_000;

export interface LayoutLockOptions {
  /** How long to wait for another writer before giving up (default 30 s). */
  readonly waitMs?: number;
}

async function tryCreate(path: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(String(process.pid));
  } finally {
    await handle.close();
  }
  return true;
}

/** The owner's pid, or undefined when the file is empty, unreadable or already gone. */
async function ownerOf(path: string): Promise<number | undefined> {
  // A pid is a few bytes; a pipe or a link in the lock's place is never opened for it.
  const text = await readRegularBytes(path, 64, { followLinks: false }).then((b) => b.toString('utf8'), () => '');
  const pid = Number.parseInt(text, 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

async function isStale(path: string): Promise<boolean> {
  const owner = await ownerOf(path);
  if (owner !== undefined) return owner !== process.pid && !isProcessAlive(owner);
  const info = await stat(path).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > EMPTY_LOCK_GRACE_MS;
}

async function acquire(path: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (await tryCreate(path)) return;
    // Only polyarch's own lock file is waited for: anything else there never goes away by itself.
    const found = await lstat(path).catch(() => undefined);
    if (found && !found.isFile()) throw new PolyarchError('LAYOUT_INVALID', `${path} is not a lock file (${found.isSymbolicLink() ? 'a symbolic link' : found.isDirectory() ? 'a directory' : 'not a regular file'}); remove it if no polyarch process is running`);
    if (await isStale(path)) {
      // Looked at twice so a waiter that read the dead pid a moment ago does not remove a lock
      // someone else has just taken in its place.
      if (await isStale(path)) await rm(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      const owner = await ownerOf(path);
      throw new PolyarchError(
        'LAYOUT_INVALID',
        `timed out after ${waitMs} ms waiting for the lock ${path} (held by pid ${owner ?? 'unknown'}); remove it if no polyarch process is running`,
      );
    }
    await sleep(delay);
  }
}

// Writers in this process queue here first, so the file lock only arbitrates between processes.
const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` while holding the layout's index.json lock (not re-entrant). */
export function withLayoutLock<T>(dir: string, fn: () => Promise<T>, options: LayoutLockOptions = {}): Promise<T> {
  return withFileLock(join(resolve(dir), LOCK_NAME), fn, options);
}

/** Runs `fn` while holding the lock file `path` (made with 'wx', holding the pid; not re-entrant): the same rules as the layout's lock, for another file many writers update. */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, options: LayoutLockOptions = {}): Promise<T> {
  const previous = queues.get(path) ?? Promise.resolve();
  const run = previous
    .catch(() => undefined)
    .then(async () => {
      await acquire(path, options.waitMs ?? DEFAULT_WAIT_MS);
      try {
        return await fn();
      } finally {
        await rm(path, { force: true });
      }
    });
  queues.set(path, run);
  try {
    return await run;
  } finally {
    if (queues.get(path) === run) queues.delete(path);
  }
}
