// A cross-process lock for index.json: a lock file created with 'wx' holding the owner's pid.
// A lock whose owner is gone (crash) is broken; waiting is bounded.
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isProcessAlive } from '../internal/process-alive.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { PolyarchError } from '../errors/polyarch-error.js';

const LOCK_NAME = 'index.json.lock';
const WAIT_MS = 30_000;


async function acquire(path: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && !isProcessAlive(owner)) {
      await rm(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new PolyarchError('LAYOUT_INVALID', `timed out waiting for the lock ${path} (held by pid ${owner || 'unknown'})`);
    await sleep(delay);
  }
}

// Writers in this process queue here first, so the file lock only arbitrates between processes.
const queues = new Map<string, Promise<unknown>>();

export async function withLayoutLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const path = join(dir, LOCK_NAME);
  const previous = queues.get(path) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(async () => {
    await acquire(path);
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
