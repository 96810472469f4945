// The embedded registry's disk: one content-addressed blob store shared by every repository
// (`blobs/sha256/<hex>`), and per repository link files that say what it holds:
//   repositories/<name>/_blobs/<hex>       the repository may serve that blob
//   repositories/<name>/_manifests/<hex>   a manifest of the repository (content: its media type)
//   repositories/<name>/_tags/<tag>        the digest the tag points at
//   repositories/<name>/_summary.json      the web page's summary of the repository (a cache; ui/repository-summaries.ts)
//   uploads/<id>                           an upload in progress (cleared when a server starts, never by GC)
//   repositories.json                      every repository's name (derived, kept on write; repository-index.ts)
// Every write goes through a temp file and rename, so a kill at any moment never leaves a
// visible partial blob, link or tag.
import { constants, createWriteStream } from 'node:fs';
import { open, readdir, readFile, rename, rm, stat, truncate, utimes } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import type { Hash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { algorithmOf, createDigester, digestFromHash, digestOfBytes, encodedPart, isDigest, type Digest } from '../digest/digest.js';
import { PolyarchError, isPolyarchError } from '../errors/polyarch-error.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { BlobStore } from '../store/blob-store.js';
import { removeOrphanTemps } from '../store/gc.js';
import { verifyStream } from '../digest/verify-stream.js';
import { RepositorySummaries } from './ui/repository-summaries.js';
import { RepositoryIndex } from './repository-index.js';
import { collectRegistryGarbage, referencesOf, type RegistryGarbageOptions, type RegistryGarbageResult } from './garbage.js';
import { makeDirectories } from '../internal/make-directories.js';

export interface UploadState {
  readonly id: string;
  readonly repository: string;
  /** Bytes the session holds: every one of them written in order by one request at a time. */
  size: number;
  /** A request is writing to or finishing the session; any other is refused meanwhile. */
  busy: boolean;
  /** When a request last touched the session (ms since the epoch); expiry counts from here. */
  touched: number;
}

export interface StorageOptions {
  /** An upload session untouched for this long is removed with its file (default one hour). */
  readonly uploadMaxAgeMs?: number;
  /** Open upload sessions one repository may hold at once (default 64). */
  readonly maxUploadsPerRepository?: number;
  /** Open upload sessions in all (default 1024). */
  readonly maxUploads?: number;
  /** Largest blob a push may store, in bytes (default: no limit, as distribution). */
  readonly maxBlobSize?: number;
}

export const DEFAULT_UPLOAD_MAX_AGE_MS = 60 * 60 * 1000;
export const DEFAULT_MAX_UPLOADS_PER_REPOSITORY = 64;
export const DEFAULT_MAX_UPLOADS = 1024;

/** A chunk that does not have the length its Content-Range declared (the session is left as it was). */
export class ChunkLengthError extends PolyarchError {
  constructor(expected: number, actual: number) {
    super('BLOB_UPLOAD_INVALID', `chunk of ${actual} bytes where the Content-Range declared ${expected}`);
  }
}

/** A blob push past `maxBlobSize` (the bytes already written are taken back). */
export class BlobTooLargeError extends PolyarchError {
  readonly limit: number;
  constructor(limit: number) {
    super('SIZE_INVALID', `blob larger than the limit of ${limit} bytes`);
    this.limit = limit;
  }
}

export interface OpenBlob {
  readonly size: number;
  /**
   * Writes the blob's bytes (a range, or all of them) to `out` and ends it. When the bytes turn
   * out wrong or the file changed, `out` is destroyed before its end and the promise rejects.
   * Closes the file.
   */
  send(out: Writable, range?: { readonly start: number; readonly end: number }): Promise<void>;
  close(): Promise<void>;
}

export class RegistryStorage {
  readonly root: string;
  readonly blobs: BlobStore;
  /** The web page's per-repository summaries, kept up to date by the manifest and tag writes below. */
  readonly summaries: RepositorySummaries;
  /** Every repository's name, kept on write (repository-index.ts). */
  readonly #index: RepositoryIndex;
  readonly #uploads = new Map<string, UploadState>();
  readonly #maxAge: number;
  readonly #maxPerRepository: number;
  readonly #maxUploads: number;
  /** Largest blob a push may store (Infinity: no limit). */
  readonly maxBlobSize: number;
  #purgeTimer: NodeJS.Timeout | undefined;
  /** Blob files whose bytes were hashed and matched, by the identity (inode, size, times) of the file then. */
  readonly #verified = new Map<string, string>();
  readonly #verifying = new Map<string, Promise<boolean>>();
  /**
   * Per upload session, the sha256 of the bytes written so far, hashed as they arrived, and the
   * identity of the file right after they were written: a finish whose file still has that
   * identity needs no second pass over it; any other is hashed from the file.
   */
  readonly #uploadHashes = new Map<string, { readonly hash: Hash; readonly identity: string }>();

  constructor(root: string, options: StorageOptions = {}) {
    this.root = root;
    this.blobs = new BlobStore(root, 'embedded registry');
    this.summaries = new RepositorySummaries(this);
    this.#index = new RepositoryIndex(root);
    this.#maxAge = options.uploadMaxAgeMs ?? DEFAULT_UPLOAD_MAX_AGE_MS;
    this.#maxPerRepository = options.maxUploadsPerRepository ?? DEFAULT_MAX_UPLOADS_PER_REPOSITORY;
    this.#maxUploads = options.maxUploads ?? DEFAULT_MAX_UPLOADS;
    this.maxBlobSize = options.maxBlobSize ?? Number.POSITIVE_INFINITY;
  }

  /** Creates the tree and drops uploads a previous run left unfinished. */
  async init(): Promise<void> {
    try {
      await makeDirectories(join(this.root, 'blobs', 'sha256'));
      await makeDirectories(join(this.root, 'repositories'));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EACCES' || code === 'EROFS') {
        throw new PolyarchError('USAGE', `cannot use "${this.root}" as the registry root: ${code === 'EACCES' ? 'permission denied' : code === 'EROFS' ? 'read-only filesystem' : 'a file is in the way'}`, { cause: error });
      }
      throw error;
    }
    await removeOrphanTemps(this.root);
    await rm(join(this.root, 'uploads'), { recursive: true, force: true });
    await makeDirectories(join(this.root, 'uploads'));
    await this.#index.load();
  }

  /**
   * Removes expired upload sessions now and then, on a timer that never keeps the process alive
   * (distribution's purge, with an idle age instead of a start age: a session in use never expires).
   */
  startPurging(): void {
    if (this.#purgeTimer) return;
    const every = Math.max(10, Math.min(this.#maxAge / 2, 10 * 60 * 1000));
    this.#purgeTimer = setInterval(() => void this.purgeExpiredUploads().catch(() => undefined), every);
    this.#purgeTimer.unref();
  }

  stopPurging(): void {
    clearInterval(this.#purgeTimer);
    this.#purgeTimer = undefined;
  }

  #repo(name: string, ...rest: string[]): string {
    return join(this.root, 'repositories', ...name.split('/'), ...rest);
  }

  // ---- blobs ----
  /**
   * The repository links the blob and the file holds exactly its bytes. A file is never trusted
   * because its name exists: it is hashed once per identity (inode, size, times) and remembered.
   * An unreadable file (a directory, a device) is a server fault and throws.
   */
  async hasBlob(repository: string, digest: Digest): Promise<boolean> {
    return (await exists(this.#repo(repository, '_blobs', encodedPart(digest)))) && (await this.verifyBlob(digest));
  }

  /** The repository links the blob (whether its bytes are there and right is not looked at). */
  async isLinked(repository: string, digest: Digest): Promise<boolean> {
    return exists(this.#repo(repository, '_blobs', encodedPart(digest)));
  }

  async verifyBlob(digest: Digest): Promise<boolean> {
    const running = this.#verifying.get(digest);
    if (running) return running;
    const work = this.#verify(digest).finally(() => this.#verifying.delete(digest));
    this.#verifying.set(digest, work);
    return work;
  }

  async #verify(digest: Digest): Promise<boolean> {
    const handle = await openRegularFile(this.blobs.pathOf(digest));
    if (!handle) return false;
    try {
      const identity = identityOf(await handle.stat());
      if (this.#verified.get(digest) === identity) return true;
      this.#verified.delete(digest);
      const hash = createDigester(algorithmOf(digest));
      for await (const chunk of handle.createReadStream({ autoClose: false, start: 0 })) hash.update(chunk as Buffer);
      if (digestFromHash(hash, algorithmOf(digest)) !== digest) return false;
      this.#verified.set(digest, identity);
      return true;
    } finally {
      await handle.close();
    }
  }

  /**
   * The blob's file, opened once: its size, and a way to send its bytes (a range, or all of them).
   * A file whose identity (inode, size, times) is the one hashed and matched before is sent as it
   * is, in large reads into reused buffers with no per-byte work; its identity is checked again
   * before the last piece, so a file changed behind the server mid-answer is cut off too. Any
   * other whole read is hashed as it streams and fails before its end when the bytes do not match
   * the digest; a range is served only after verifyBlob. Undefined when the file is not there.
   * Call `close()` when `send` is not called.
   */
  async openBlob(digest: Digest): Promise<OpenBlob | undefined> {
    const handle = await openRegularFile(this.blobs.pathOf(digest));
    if (!handle) return undefined;
    try {
      const info = await handle.stat();
      const identity = identityOf(info);
      const what = `blob ${digest} on disk`;
      return {
        size: info.size,
        send: async (out, part) => {
          if (part || this.#verified.get(digest) === identity) {
            return sendFile(handle, part?.start ?? 0, part ? part.end + 1 : info.size, out, () => checkUnchanged(handle, identity, what));
          }
          // The last piece is held back until the digest matched (DESIGN.md §5 rule 4).
          const verified = verifyStream({ digest, size: info.size, what });
          verified.on('end', () => this.#verified.set(digest, identity));
          // pipeline() destroys every side on a failure, and closes the file.
          await pipeline(handle.createReadStream({ start: 0, highWaterMark: READ_CHUNK }), verified, out);
        },
        close: () => handle.close().catch(() => undefined),
      };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Every write into a repository starts here (a manifest PUT links its bytes first): a new name is indexed before its directory exists. */
  async linkBlob(repository: string, digest: Digest): Promise<void> {
    await this.#index.add(repository);
    try {
      await writeFileAtomic(this.#repo(repository, '_blobs', encodedPart(digest)), Buffer.from(digest));
    } catch (error) {
      await this.#index.forgetUnlessPresent(repository);
      throw error;
    }
  }

  /**
   * Marks the repository's links of these blobs as just used, so a garbage collection running
   * beside the server counts them as fresh (a manifest referencing them is being stored).
   */
  async touchBlobLinks(repository: string, digests: readonly Digest[]): Promise<void> {
    const now = new Date();
    for (const digest of digests) await utimes(this.#repo(repository, '_blobs', encodedPart(digest)), now, now).catch(() => undefined);
  }

  /**
   * The first stored manifest of the repository that is `digest` or references it (config,
   * layers, artifact blobs, index children, subject); undefined when none does.
   */
  async manifestUsing(repository: string, digest: Digest): Promise<Digest | undefined> {
    for (const manifest of await this.manifestDigests(repository)) {
      if (manifest === digest) return manifest;
      const found = await this.manifestOf(repository, manifest).catch(() => undefined);
      if (found && referencesOf(found.bytes).includes(digest)) return manifest;
    }
    return undefined;
  }

  async unlinkBlob(repository: string, digest: Digest): Promise<boolean> {
    const path = this.#repo(repository, '_blobs', encodedPart(digest));
    const had = await exists(path);
    await rm(path, { force: true });
    return had;
  }

  /**
   * A blob pushed in one request. The bytes go to a file of their own under uploads/, are hashed
   * from that file, and that very file is renamed over whatever the store held under the name
   * (a blob already present is replaced by verified bytes, never trusted). False on a mismatch.
   */
  async putBlob(repository: string, digest: Digest, content: Readable): Promise<boolean> {
    const path = join(this.root, 'uploads', `whole-${randomUUID()}`);
    try {
      // Streamed to the file, never held in memory, hashed on the way; cut off past maxBlobSize.
      const counter = new ChunkCounter(undefined, this.maxBlobSize, this.maxBlobSize, createDigester(algorithmOf(digest)));
      await pipeline(content, counter, createWriteStream(path, { flags: 'wx', highWaterMark: WRITE_BUFFER }));
      const written = { hash: counter.hash!, identity: identityOf(await stat(path)) };
      if (!(await this.#place(path, digest, written))) return false;
    } finally {
      await rm(path, { force: true });
    }
    await this.linkBlob(repository, digest);
    return true;
  }

  /**
   * When the file at `path` holds `digest`, renames it into the store (replacing what is there).
   * `written` is the hash of the bytes as they were written and the file's identity right after:
   * while the file still has that identity, that hash is its hash; otherwise the file is hashed.
   */
  async #place(path: string, digest: Digest, written?: { readonly hash: Hash; readonly identity: string }): Promise<boolean> {
    const handle = await open(path, 'r');
    let before: Stats;
    try {
      before = await handle.stat();
      const algorithm = algorithmOf(digest);
      let hash: Hash;
      if (written && written.identity === identityOf(before)) {
        // A copy: a finish refused for a mismatch keeps the session's running hash usable.
        hash = written.hash.copy();
      } else {
        hash = createDigester(algorithm);
        for await (const chunk of handle.createReadStream({ autoClose: false, start: 0, highWaterMark: READ_CHUNK })) hash.update(chunk as Buffer);
      }
      if (digestFromHash(hash, algorithm) !== digest) return false;
    } finally {
      await handle.close();
    }
    const target = this.blobs.pathOf(digest);
    await makeDirectories(dirname(target));
    // uploads/ sits beside blobs/ on one filesystem: rename is atomic, readers see old or new.
    await rename(path, target);
    // Remembered as verified only if the name still holds the file just hashed, unchanged (rename changes ctime only).
    const placed = await stat(target).catch(() => undefined);
    if (placed && placed.dev === before.dev && placed.ino === before.ino && placed.size === before.size && placed.mtimeMs === before.mtimeMs) this.#verified.set(digest, identityOf(placed));
    return true;
  }

  // ---- uploads ----
  /**
   * Opens a session, or refuses with TOOMANYREQUESTS when the repository (or the server) holds too
   * many: the refusal is temporary (sessions finish or expire), and clients back off and retry on
   * 429, where DENIED would read as a permission problem and end the push.
   */
  async startUpload(repository: string): Promise<UploadState> {
    await this.purgeExpiredUploads();
    let mine = 0;
    for (const state of this.#uploads.values()) if (state.repository === repository) mine++;
    if (mine >= this.#maxPerRepository) throw new PolyarchError('TOOMANYREQUESTS', `repository ${repository} has ${mine} upload sessions open already; finish or cancel one, or wait for it to expire`);
    if (this.#uploads.size >= this.#maxUploads) throw new PolyarchError('TOOMANYREQUESTS', `${this.#uploads.size} upload sessions are open already; try again later`);
    const state: UploadState = { id: randomUUID(), repository, size: 0, busy: false, touched: Date.now() };
    this.#uploads.set(state.id, state);
    try {
      await writeFileAtomic(join(this.root, 'uploads', state.id), Buffer.alloc(0));
    } catch (error) {
      this.#uploads.delete(state.id);
      throw error;
    }
    return state;
  }

  upload(id: string, repository: string): UploadState | undefined {
    const state = this.#uploads.get(id);
    if (!state || state.repository !== repository) return undefined;
    if (this.#expired(state)) {
      void this.cancelUpload(state).catch(() => undefined);
      return undefined;
    }
    return state;
  }

  #expired(state: UploadState): boolean {
    return !state.busy && Date.now() - state.touched > this.#maxAge;
  }

  async purgeExpiredUploads(): Promise<number> {
    const expired = [...this.#uploads.values()].filter((s) => this.#expired(s));
    for (const state of expired) await this.cancelUpload(state);
    return expired.length;
  }

  /**
   * Marks the session busy for one request; false when another request holds it. Two requests
   * writing one session at once could interleave their bytes, so the second is refused.
   */
  acquireUpload(state: UploadState): boolean {
    if (state.busy || !this.#uploads.has(state.id)) return false;
    state.busy = true;
    return true;
  }

  releaseUpload(state: UploadState): void {
    state.busy = false;
    state.touched = Date.now();
    // Cancelled while this request held it: whatever the request wrote since goes too.
    if (!this.#uploads.has(state.id)) void this.cancelUpload(state).catch(() => undefined);
  }

  /**
   * Writes `content` at the session's end, in order. With `expected`, the chunk must have exactly
   * that many bytes (its Content-Range). On any failure the file is cut back to where it stood.
   */
  async appendUpload(state: UploadState, content: Readable, expected?: number): Promise<void> {
    const path = join(this.root, 'uploads', state.id);
    // The running hash goes on only from a file still as the last append left it (sha256, the
    // algorithm nearly every push names); a copy, so a failed chunk leaves it as it was.
    const running = this.#uploadHashes.get(state.id);
    this.#uploadHashes.delete(state.id);
    const current = await stat(path).catch(() => undefined);
    const resumable = state.size === 0 ? current?.size === 0 : running !== undefined && current !== undefined && identityOf(current) === running.identity;
    const hash = resumable ? (running?.hash.copy() ?? createDigester('sha256')) : undefined;
    const counter = new ChunkCounter(expected, this.maxBlobSize - state.size, this.maxBlobSize, hash);
    try {
      await pipeline(content, counter, createWriteStream(path, { flags: 'r+', start: state.size, highWaterMark: WRITE_BUFFER }));
      if (expected !== undefined && counter.bytes !== expected) throw new ChunkLengthError(expected, counter.bytes);
    } catch (error) {
      await truncateTo(path, state.size);
      throw error;
    }
    state.size += counter.bytes;
    if (hash) this.#uploadHashes.set(state.id, { hash, identity: identityOf(await stat(path)) });
  }

  /**
   * Verifies the finished upload against `digest` — hashing the exact file that will be placed —
   * and moves it into the blob store. False (and the session is kept) when the bytes differ.
   */
  async finishUpload(state: UploadState, digest: Digest): Promise<boolean> {
    const path = join(this.root, 'uploads', state.id);
    // Nothing past the last whole chunk (a truncation changes the identity: the file is then hashed).
    if ((await stat(path)).size !== state.size) await truncate(path, state.size);
    const written = algorithmOf(digest) === 'sha256' ? this.#uploadHashes.get(state.id) : undefined;
    if (!(await this.#place(path, digest, written))) return false;
    await this.linkBlob(state.repository, digest);
    await this.cancelUpload(state);
    return true;
  }

  async cancelUpload(state: UploadState): Promise<void> {
    this.#uploads.delete(state.id);
    this.#uploadHashes.delete(state.id);
    await rm(join(this.root, 'uploads', state.id), { force: true });
  }

  // ---- manifests and tags ----
  async putManifest(repository: string, digest: Digest, bytes: Buffer, mediaType: string, tag?: string): Promise<void> {
    // Always written: a file already under that name may hold other bytes (never trusted by name).
    if (digestOfBytes(bytes, algorithmOf(digest)) !== digest) throw new PolyarchError('DIGEST_MISMATCH', `manifest bytes are not ${digest}`);
    const isNew = !(await this.hasManifest(repository, digest));
    await this.summaries.afterManifestPut(repository, digest, tag, async () => {
      await writeFileAtomic(this.blobs.pathOf(digest), bytes);
      await this.linkBlob(repository, digest);
      await writeFileAtomic(this.#repo(repository, '_manifests', encodedPart(digest)), Buffer.from(mediaType));
      if (tag !== undefined) await writeFileAtomic(this.#repo(repository, '_tags', tag), Buffer.from(digest));
    }, isNew);
  }

  async resolve(repository: string, reference: string): Promise<Digest | undefined> {
    if (isDigest(reference)) return (await exists(this.#repo(repository, '_manifests', encodedPart(reference)))) ? reference : undefined;
    const text = await readFile(this.#repo(repository, '_tags', reference), 'utf8').catch(() => undefined);
    return text !== undefined && isDigest(text) && (await exists(this.#repo(repository, '_manifests', encodedPart(text)))) ? text : undefined;
  }

  async manifestOf(repository: string, digest: Digest): Promise<{ bytes: Buffer; mediaType: string } | undefined> {
    const mediaType = await readFile(this.#repo(repository, '_manifests', encodedPart(digest)), 'utf8').catch(() => undefined);
    if (mediaType === undefined) return undefined;
    try {
      return { bytes: await this.blobs.readSmall(digest, `manifest ${digest}`), mediaType };
    } catch (error) {
      // Gone or damaged bytes are an unknown manifest (a push puts them back); other faults throw.
      if (isPolyarchError(error) && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'DIGEST_MISMATCH' || error.code === 'SIZE_MISMATCH')) return undefined;
      throw error;
    }
  }

  async hasManifest(repository: string, digest: Digest): Promise<boolean> {
    return exists(this.#repo(repository, '_manifests', encodedPart(digest)));
  }

  async deleteManifest(repository: string, digest: Digest): Promise<boolean> {
    const path = this.#repo(repository, '_manifests', encodedPart(digest));
    if (!(await exists(path))) return false;
    return this.summaries.afterManifestDelete(repository, async () => {
      for (const tag of await this.tags(repository)) {
        if ((await readFile(this.#repo(repository, '_tags', tag), 'utf8').catch(() => '')) === digest) await rm(this.#repo(repository, '_tags', tag), { force: true });
      }
      await rm(path, { force: true });
      return true;
    });
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    const path = this.#repo(repository, '_tags', tag);
    if (!(await exists(path))) return false;
    return this.summaries.afterTagDelete(repository, tag, async () => {
      const had = await exists(path);
      await rm(path, { force: true });
      return had;
    });
  }

  /** Tags in lexical order (the distribution-spec MUST distribution 2.8 does not meet). */
  async tags(repository: string): Promise<string[]> {
    return (await readdir(this.#repo(repository, '_tags')).catch(() => [] as string[])).filter((t) => !t.startsWith('.')).sort();
  }

  async manifestDigests(repository: string): Promise<Digest[]> {
    const names = await readdir(this.#repo(repository, '_manifests')).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}` as Digest);
  }

  async repositoryExists(repository: string): Promise<boolean> {
    return exists(this.#repo(repository, '_blobs')) ;
  }

  /** Every repository name, sorted, from the index kept on write: no directory is read. */
  async repositories(): Promise<readonly string[]> {
    return this.#index.names();
  }

  /** Removes the blobs no stored manifest or tag reaches and nobody touched within the grace period; see garbage.ts. */
  collectGarbage(options: RegistryGarbageOptions = {}): Promise<RegistryGarbageResult> {
    return collectRegistryGarbage(this, options);
  }
}

async function truncateTo(path: string, size: number): Promise<void> {
  await truncate(path, size).catch(() => undefined);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A regular file opened for reading, or undefined when there is none; anything else (a directory, a FIFO) throws. */
async function openRegularFile(path: string): Promise<FileHandle | undefined> {
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO planted in the store must not hang a thread.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: info.isDirectory() ? 'EISDIR' : 'EINVAL' });
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Size of one read from a blob file: large enough that a fast disk and socket, not per-chunk work, set the pace. */
const READ_CHUNK = 1 << 20;
/** Bytes of an upload queued for the file before the socket is paused: written out in few, large writev calls. */
const WRITE_BUFFER = 1 << 20;

/** Fails when the open file no longer has the identity it was verified with. */
async function checkUnchanged(handle: FileHandle, identity: string, what: string): Promise<void> {
  if (identityOf(await handle.stat()) !== identity) throw new PolyarchError('DIGEST_MISMATCH', `${what}: the file changed while being served`);
}

/**
 * Sends bytes [start, end) of an open file to `out`, then ends it and closes the file. Two
 * buffers of READ_CHUNK take turns: one is read into while the other is being written, and a
 * buffer is reused only once its write completed — no allocation, no page faults, no garbage per
 * chunk, and at most two chunks queued for a slow client. `beforeLast` runs before the last piece
 * is written; when it throws, `out` is destroyed instead of ended.
 */
async function sendFile(handle: FileHandle, start: number, end: number, out: Writable, beforeLast: () => Promise<void>): Promise<void> {
  const buffers = [Buffer.allocUnsafe(Math.min(READ_CHUNK, end - start)), Buffer.allocUnsafe(Math.min(READ_CHUNK, end - start))];
  const writes: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
  // A client that goes away ends every wait at once, whether or not its pending writes report back.
  let gone: Error | undefined;
  let onClose = (): void => undefined;
  const closed = new Promise<void>((resolve) => {
    onClose = () => {
      gone ??= new Error('the client went away');
      resolve();
    };
  });
  out.once('close', onClose);
  try {
    let position = start;
    for (let turn = 0; position < end; turn = 1 - turn) {
      await Promise.race([writes[turn], closed]);
      if (gone) throw gone;
      const buffer = buffers[turn]!;
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - position), position);
      if (bytesRead === 0) throw new PolyarchError('SIZE_MISMATCH', 'a blob file became shorter while being served');
      position += bytesRead;
      if (position >= end) await beforeLast();
      writes[turn] = new Promise<void>((resolve) => {
        out.write(buffer.subarray(0, bytesRead), (error) => {
          if (error) gone ??= error;
          resolve();
        });
      });
    }
    await Promise.race([Promise.all(writes), closed]);
    if (gone) throw gone;
    out.end();
  } catch (error) {
    out.destroy(error as Error);
    throw error;
  } finally {
    out.off('close', onClose);
    await handle.close().catch(() => undefined);
  }
}

function identityOf(info: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number }): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
}

/**
 * Counts a chunk's bytes and fails as soon as it is longer than its declared length (`max`) or
 * would take the blob past `room`, the bytes left under maxBlobSize.
 */
class ChunkCounter extends Transform {
  bytes = 0;
  /** When given, every byte passed on is hashed into it (the file need not be read back). */
  readonly hash: Hash | undefined;
  readonly #max: number | undefined;
  readonly #room: number;
  readonly #limit: number;
  constructor(max: number | undefined, room = Number.POSITIVE_INFINITY, limit = room, hash?: Hash) {
    super();
    this.#max = max;
    this.#room = room;
    this.#limit = limit;
    this.hash = hash;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.#max !== undefined && this.bytes > this.#max) done(new ChunkLengthError(this.#max, this.bytes));
    else if (this.bytes > this.#room) done(new BlobTooLargeError(this.#limit));
    else {
      this.hash?.update(chunk);
      done(null, chunk);
    }
  }
}
