// Basic auth from an htpasswd file of bcrypt lines (`htpasswd -B`): `user:$2y$…`.
// bcrypt is slow on purpose (cost 12 is ~¼ s), so a check never runs on the event loop: a small
// pool of worker threads does it, and a verified user+password is remembered for a short time
// (keyed by a hash of both, bounded, dropped when the file changes). An unknown user is checked
// against a dummy hash of the same cost, so a refusal takes as long whether the user exists or not.
import { createHash, randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { lazyModule } from '../internal/lazy-module.js';

import { PolyarchError } from '../errors/polyarch-error.js';
import { MAX_SMALL_FILE_BYTES, readProblem, readRegularFile } from '../internal/regular-file.js';

// Loaded when an htpasswd file is read: only `serve` with basic auth needs it, and every command imports the library.
const bcrypt = lazyModule<typeof import('bcryptjs')>('bcryptjs');

export interface HtpasswdAuth {
  /** True when `password` is the user's; rejects with TOOMANYREQUESTS when too many checks wait. */
  verify(username: string, password: string): Promise<boolean>;
  /** Stops the worker threads. */
  close(): Promise<void>;
}

export interface HtpasswdOptions {
  /** How long a verified user+password is trusted without another bcrypt check. */
  readonly cacheTtlMs?: number;
  readonly cacheSize?: number;
  /** bcrypt checks allowed to wait at once; more are refused (a flood must not grow memory). */
  readonly maxPending?: number;
  readonly workers?: number;
}

const DEFAULT_TTL_MS = 60_000;
const DEFAULT_CACHE_SIZE = 1024;
const DEFAULT_MAX_PENDING = 256;
/** The file is stat'ed at most this often to notice edits. */
const RECHECK_MS = 1000;

interface Users {
  readonly hashes: ReadonlyMap<string, string>;
  /** Same cost as most of the file's entries; never matches. */
  readonly dummy: string;
  readonly version: string;
}

async function readUsers(file: string): Promise<Users> {
  let text: string;
  let version: string;
  try {
    const info = await stat(file);
    version = `${info.ino}:${info.size}:${info.mtimeMs}`;
    text = await readRegularFile(file, MAX_SMALL_FILE_BYTES);
  } catch (error) {
    throw new PolyarchError('CONFIG_INVALID', `cannot read htpasswd file "${file}": ${readProblem(error)}`, { cause: error });
  }
  const hashes = new Map<string, string>();
  const costs = new Map<number, number>();
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    const hash = line.slice(colon + 1).trim();
    const match = /^\$2[abxy]\$(\d\d)\$/.exec(hash);
    if (colon <= 0 || !match) throw new PolyarchError('CONFIG_INVALID', `htpasswd file "${file}" line ${i + 1}: only bcrypt entries (htpasswd -B) are supported`);
    costs.set(Number(match[1]), (costs.get(Number(match[1])) ?? 0) + 1);
    hashes.set(line.slice(0, colon), hash.replace(/^\$2y\$/, '$2b$'));
  }
  // A well-formed hash nobody's password produces (a salt plus random base64 characters), at the
  // cost most users have, so refusing an unknown user takes as long as refusing a known one.
  const cost = [...costs].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]?.[0] ?? 10;
  const dummy = bcrypt().genSaltSync(Math.min(Math.max(cost, 4), 31)) + bcrypt().encodeBase64(randomBytes(23), 23).slice(0, 31);
  return { hashes, dummy, version };
}

interface Job {
  readonly password: string;
  readonly hash: string;
  readonly resolve: (ok: boolean) => void;
  readonly reject: (error: Error) => void;
}

/** A few worker threads, each running one bcrypt check at a time, started on first use. */
class BcryptPool {
  readonly #size: number;
  readonly #maxPending: number;
  readonly #idle: Worker[] = [];
  readonly #all = new Set<Worker>();
  readonly #queue: Job[] = [];
  #nextId = 0;
  #closed = false;

  constructor(size: number, maxPending: number) {
    this.#size = size;
    this.#maxPending = maxPending;
  }

  compare(password: string, hash: string): Promise<boolean> {
    if (this.#closed) return Promise.reject(new PolyarchError('TOOMANYREQUESTS', 'the password checker is shut down'));
    if (this.#queue.length >= this.#maxPending) return Promise.reject(new PolyarchError('TOOMANYREQUESTS', 'too many password checks waiting'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ password, hash, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      let worker = this.#idle.pop();
      if (!worker && this.#all.size < this.#size) worker = this.#spawn();
      if (!worker) return;
      this.#run(worker, this.#queue.shift()!);
    }
  }

  #spawn(): Worker {
    const worker = new Worker(new URL('./bcrypt-worker.js', import.meta.url));
    worker.unref(); // an idle pool never keeps the process alive
    this.#all.add(worker);
    return worker;
  }

  #run(worker: Worker, job: Job): void {
    const id = this.#nextId++;
    const done = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (message: { id: number; ok: boolean }): void => {
      if (message.id !== id) return;
      done();
      job.resolve(message.ok === true);
      if (!this.#closed) {
        this.#idle.push(worker);
        this.#pump();
      }
    };
    const onError = (error: Error): void => {
      done();
      this.#all.delete(worker);
      job.reject(error);
      this.#pump();
    };
    const onExit = (): void => onError(new Error('password check worker exited'));
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    worker.postMessage({ id, password: job.password, hash: job.hash });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) job.reject(new PolyarchError('TOOMANYREQUESTS', 'the password checker is shut down'));
    const workers = [...this.#all];
    this.#all.clear();
    this.#idle.length = 0;
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export async function loadHtpasswd(file: string, options: HtpasswdOptions = {}): Promise<HtpasswdAuth> {
  let users = await readUsers(file);
  let checkedAt = Date.now();
  let reloading: Promise<void> | undefined;
  const ttl = options.cacheTtlMs ?? DEFAULT_TTL_MS;
  const cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
  const pool = new BcryptPool(options.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1)), options.maxPending ?? DEFAULT_MAX_PENDING);
  /** key → when it stops being trusted, and the hash it was verified against. Insertion order is LRU order. */
  const verified = new Map<string, { expires: number; hash: string }>();
  /** One bcrypt check per key at a time: parallel requests of one client share it. */
  const inflight = new Map<string, Promise<boolean>>();

  // Edits to the file take effect within RECHECK_MS; a file that cannot be read or parsed
  // mid-edit leaves the last good set of users in place.
  const refresh = async (): Promise<void> => {
    if (Date.now() - checkedAt < RECHECK_MS) return;
    checkedAt = Date.now();
    reloading ??= (async () => {
      try {
        const info = await stat(file);
        if (`${info.ino}:${info.size}:${info.mtimeMs}` === users.version) return;
        users = await readUsers(file);
        verified.clear();
      } catch {
        // keep the users we have
      } finally {
        reloading = undefined;
      }
    })();
    await reloading;
  };

  const verify = async (username: string, password: string): Promise<boolean> => {
    await refresh();
    const key = createHash('sha256').update(JSON.stringify([username, password])).digest('base64'); // unambiguous pair
    const hash = users.hashes.get(username);
    const cached = verified.get(key);
    if (cached && hash !== undefined && cached.hash === hash && cached.expires > Date.now()) {
      verified.delete(key);
      verified.set(key, cached);
      return true;
    }
    verified.delete(key);
    let pending = inflight.get(key);
    if (!pending) {
      pending = pool.compare(password, hash ?? users.dummy).then((ok) => ok && hash !== undefined);
      inflight.set(key, pending);
      void pending.finally(() => inflight.delete(key)).catch(() => undefined);
    }
    const ok = await pending;
    if (ok && hash !== undefined) {
      verified.set(key, { expires: Date.now() + ttl, hash });
      while (verified.size > cacheSize) verified.delete(verified.keys().next().value!);
    }
    return ok;
  };

  return { verify, close: () => pool.close() };
}
