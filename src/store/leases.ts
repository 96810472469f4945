// Leases: a process that uses a store marks it in use with one file naming its pid, taken under
// the layout lock; whoever deletes from the store (a prune) holds that lock and waits until no
// live lease exists, so it never removes what a running process is about to reuse. A lease of a
// process that is gone (killed) counts for nothing and is removed by the next look.
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isProcessAlive } from '../internal/process-alive.js';
import { withLayoutLock } from './layout-lock.js';

export const LEASES_DIR = 'polyarch-leases';

/** Takes a lease on the store at `dir` (which must exist); returns its release. */
export async function takeLease(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LEASES_DIR, `${process.pid}-${randomBytes(6).toString('hex')}`);
  await withLayoutLock(dir, async () => {
    await mkdir(join(dir, LEASES_DIR), { recursive: true });
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
