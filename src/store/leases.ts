// Leases: a process that uses a store marks it in use with one file naming its pid, taken under
// the layout lock; whoever deletes from the store (a prune) holds that lock and waits until no
// live lease exists, so it never removes what a running process is about to reuse. A lease of a
// process that is gone (killed) counts for nothing and is removed by the next look.
import { randomBytes } from 'node:crypto';
import { lstat, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isProcessAlive } from '../internal/process-alive.js';
import { withLayoutLock } from './layout-lock.js';
import { makeDirectories } from '../internal/make-directories.js';

export const LEASES_DIR = 'polyarch-leases';

/** Takes a lease on the store at `dir` (which must exist); returns its release. */
export async function takeLease(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LEASES_DIR, `${process.pid}-${randomBytes(6).toString('hex')}`);
  await withLayoutLock(dir, async () => {
    await makeDirectories(join(dir, LEASES_DIR));
    await writeFile(path, String(process.pid), { flag: 'wx' });
  });
  return () => rm(path, { force: true });
}

/** Pids holding a lease now; leases of dead processes are removed. Call under the layout lock. */
export async function liveLeaseHolders(dir: string): Promise<number[]> {
  const leases = join(dir, LEASES_DIR);
  // A symlink in its place is not followed: no lease is read (or unlinked) outside the store.
  if (!(await lstat(leases).then((info) => info.isDirectory(), () => false))) return [];
  const live: number[] = [];
  for (const name of await readdir(leases)) {
    const pid = Number.parseInt(name, 10);
    if (Number.isSafeInteger(pid) && pid > 0 && isProcessAlive(pid)) live.push(pid);
    else await unlink(join(leases, name)).catch(() => undefined);
  }
  return live;
}

export interface LeaseFreeOptions {
  /** How long to wait for the holders to finish (default 60 s). */
  readonly waitMs?: number;
  /** Told once, with the holders' pids, when the work has to wait. */
  readonly onWait?: (pids: readonly number[]) => void;
  readonly signal?: AbortSignal;
  /** The one-line error when the holders outlast the wait. */
  readonly busy: (pids: readonly number[]) => Error;
}

/**
 * Runs `work` under the layout lock once no live lease is held on `dir` (what a prune does), polling
 * while processes hold one, and failing with `busy` when they still do after `waitMs`.
 */
export async function whenLeaseFree<T>(dir: string, options: LeaseFreeOptions, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + (options.waitMs ?? 60_000);
  let told = false;
  for (;;) {
    options.signal?.throwIfAborted();
    const outcome = await withLayoutLock(dir, async () => {
      const busy = await liveLeaseHolders(dir);
      return busy.length > 0 ? { busy } : { done: await work() };
    });
    if ('done' in outcome) return outcome.done;
    if (Date.now() >= deadline) throw options.busy(outcome.busy);
    if (!told) options.onWait?.(outcome.busy);
    told = true;
    await sleep(200, undefined, options.signal ? { signal: options.signal } : {});
  }
}
