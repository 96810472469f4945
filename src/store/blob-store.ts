// Content-addressed blobs under `<root>/blobs/<alg>/<hex>` (OCI image layout), shared by the
// layout, the archive writers and the embedded registry. Reads are verified, writes atomic.
import { constants } from 'node:fs';
import { lstat, open, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { algorithmOf, encodedPart, shortDigest, type Digest } from '../digest/digest.js';
import { verifyBytes, verifiedStream, verifyingTaker } from '../digest/verify-stream.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { Descriptor } from '../image/descriptor.js';
import type { PieceTaker } from '../internal/streams.js';
import { placeWithoutOverwrite, syncFile, writeFileAtomic, writeStreamAtomic, writeTempFrom, writeVerifiedTemp } from './atomic-write.js';
import { makeDirectories } from '../internal/make-directories.js';

type Io = { readonly signal?: AbortSignal };

/**
 * Bytes per read of a blob file: four times the default, so a layer goes through the verifier
 * and out in a quarter of the chunks (fewer stream turns per byte), still a small buffer.
 */
const READ_SIZE = 256 * 1024;

/** Buffers readInto reads a blob file into: one being read while the others' pieces are with the taker. */
const READ_INTO_BUFFERS = 3;

/** What readSmall reads whole at most: manifests and configs, never layers. */
export const SMALL_BLOB_LIMIT = 16 * 1024 * 1024;

export class BlobStore {
  readonly root: string;
  readonly #name: string;

  readonly #refuseLinkedFolders: boolean;
  /** Per algorithm, the check that `blobs` and `blobs/<alg>` are this store's own directories. */
  readonly #dirsChecked = new Map<string, Promise<void>>();

  /**
   * `refuseLinkedFolders`: the root is input (an OCI layout anyone may have made), so its blob
   * folders must be its own directories. A registry's storage is its operator's, who may well
   * put `blobs` on another disk through a link.
   */
  constructor(root: string, name: string, options: { readonly refuseLinkedFolders?: boolean } = {}) {
    this.root = root;
    this.#name = name;
    this.#refuseLinkedFolders = options.refuseLinkedFolders === true;
  }

  pathOf(digest: Digest): string {
    return join(this.root, 'blobs', algorithmOf(digest), encodedPart(digest));
  }

  /** Whether the blob is there as a regular file (a link or anything else in its place is not the blob: writing it replaces that). */
  async has(digest: Digest): Promise<boolean> {
    await this.#checkDirs(digest);
    try {
      return (await lstat(this.pathOf(digest))).isFile();
    } catch {
      return false;
    }
  }

  /**
   * A layout is input like any other: where `blobs` or `blobs/<alg>` is a link (or no directory),
   * every blob written would land, and every blob read would come from, wherever it points. Checked
   * once per algorithm before the first read or write of it (every write asks `has` first).
   */
  #checkDirs(digest: Digest): Promise<void> {
    if (!this.#refuseLinkedFolders) return Promise.resolve();
    const algorithm = algorithmOf(digest);
    let checked = this.#dirsChecked.get(algorithm);
    if (!checked) {
      checked = (async () => {
        for (const dir of [join(this.root, 'blobs'), join(this.root, 'blobs', algorithm)]) {
          const info = await lstat(dir).catch((error: NodeJS.ErrnoException) => {
            if (error.code === 'ENOENT') return undefined; // made by the first write
            throw error;
          });
          if (info !== undefined && !info.isDirectory()) {
            throw new PolyarchError('LAYOUT_INVALID', `${this.#name}: ${relative(this.root, dir)} is ${info.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; a layout's blob folders must be its own directories`);
          }
        }
      })();
      this.#dirsChecked.set(algorithm, checked);
    }
    return checked;
  }

  /**
   * A stream that fails before its end when the bytes on disk do not match the descriptor; unless
   * `hashedOnWrite`: the caller wrote the blob itself in this run and checked it then, so hashing
   * it again would only cost time.
   */
  async open(descriptor: Descriptor, options: Io & { readonly hashedOnWrite?: boolean } = {}): Promise<Readable> {
    const handle = await this.#openFile(descriptor.digest);
    const what = `blob ${shortDigest(descriptor.digest)} in ${this.#name}`;
    const file = handle.createReadStream({ highWaterMark: READ_SIZE });
    const read = options.hashedOnWrite ? file : verifiedStream(file, { digest: descriptor.digest, size: descriptor.size, what });
    return options.signal ? addAbortSignal(options.signal, read) : read;
  }

  /**
   * The blob's bytes handed to `take` piece by piece from reused buffers (no stream), verified as
   * `open`'s are; the piece that completes the size is handed over only when the digest matches.
   */
  async readInto(descriptor: Descriptor, take: PieceTaker, options: Io = {}): Promise<void> {
    const what = `blob ${shortDigest(descriptor.digest)} in ${this.#name}`;
    const checked = verifyingTaker({ digest: descriptor.digest, size: descriptor.size, what }, take);
    const handle = await this.#openFile(descriptor.digest);
    const buffers: Buffer[] = [];
    const taking: Promise<void>[] = [];
    try {
      for (let turn = 0, position = 0; ; turn++) {
        options.signal?.throwIfAborted();
        const slot = turn % READ_INTO_BUFFERS;
        await taking[slot]; // the buffer's last piece is taken: it can be read into again
        const buffer = (buffers[slot] ??= Buffer.allocUnsafe(READ_SIZE));
        const { bytesRead } = await handle.read(buffer, 0, READ_SIZE, position);
        if (bytesRead === 0) break;
        position += bytesRead;
        const taken = checked.take(buffer.subarray(0, bytesRead));
        taken.catch(() => undefined); // awaited in its turn, or below
        taking[slot] = taken;
      }
      await Promise.all(taking);
      checked.end();
    } finally {
      await Promise.allSettled(taking); // a failure is reported once no piece is with the taker, as takeAll and a drain do
      await handle.close();
    }
  }

  /** A small blob (manifest, config) read whole and verified; refuses anything over `maxBytes`. */
  async readSmall(digest: Digest, what: string, options: { readonly maxBytes?: number; readonly code?: 'BLOB_UNKNOWN' | 'MANIFEST_UNKNOWN' } = {}): Promise<Buffer> {
    const handle = await this.#openFile(digest, options.code ?? 'MANIFEST_UNKNOWN');
    try {
      const { size } = await handle.stat();
      const max = options.maxBytes ?? SMALL_BLOB_LIMIT;
      if (size > max) throw new PolyarchError('MANIFEST_INVALID', `${what}: ${size} bytes is more than the ${max} bytes a manifest or config may have`);
      const bytes = await handle.readFile();
      verifyBytes(bytes, { digest, what });
      return bytes;
    } finally {
      await handle.close();
    }
  }

  /** Stores a blob from a stream unless it is already there (content-addressed). */
  async put(descriptor: Descriptor, content: Readable, options: Io = {}): Promise<void> {
    if (await this.has(descriptor.digest)) {
      content.destroy(); // what is there is already these bytes
      return;
    }
    await writeStreamAtomic(this.pathOf(descriptor.digest), content, {
      digest: descriptor.digest,
      size: descriptor.size,
      what: `blob ${shortDigest(descriptor.digest)} for ${this.#name}`,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /**
   * Writes a verified blob into a temp file in the store without syncing it, and returns its path
   * (undefined when the blob is already there): `placeSynced` later makes it the blob. Many
   * blobs synced together cost less than one sync per blob on the write path.
   */
  async putUnsynced(descriptor: Descriptor, content: Readable, options: Io = {}): Promise<string | undefined> {
    if (await this.has(descriptor.digest)) {
      content.destroy();
      return undefined;
    }
    return writeVerifiedTemp(dirname(this.pathOf(descriptor.digest)), content, {
      digest: descriptor.digest,
      size: descriptor.size,
      what: `blob ${shortDigest(descriptor.digest)} for ${this.#name}`,
      sync: false,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** putUnsynced for a blob that `read` hands over piece by piece and verifies itself (atomic-write's writeTempFrom); not read at all when already there. */
  async putUnsyncedFrom(descriptor: Descriptor, read: (take: PieceTaker) => Promise<void>): Promise<string | undefined> {
    if (await this.has(descriptor.digest)) return undefined;
    return writeTempFrom(dirname(this.pathOf(descriptor.digest)), read, { sync: false });
  }

  /**
   * Syncs a temp file from `putUnsynced` (or waits for `synced`, its sync already under way), then
   * makes it the blob; the temp is gone afterwards either way.
   */
  async placeSynced(digest: Digest, temp: string, synced?: Promise<void>): Promise<void> {
    try {
      await (synced ?? syncFile(temp));
      await placeWithoutOverwrite(temp, this.pathOf(digest));
    } finally {
      await rm(temp, { force: true });
    }
  }

  /**
   * Moves a file already written and hashed by the caller (same filesystem) into the store,
   * instead of copying it through another verify pass. The file is gone afterwards either way.
   */
  async adoptFile(digest: Digest, path: string): Promise<void> {
    try {
      if (await this.has(digest)) return;
      await makeDirectories(dirname(this.pathOf(digest)));
      await placeWithoutOverwrite(path, this.pathOf(digest));
    } finally {
      await rm(path, { force: true });
    }
  }

  async putBytes(digest: Digest, bytes: Buffer): Promise<void> {
    verifyBytes(bytes, { digest });
    if (!(await this.has(digest))) await writeFileAtomic(this.pathOf(digest), bytes);
  }

  /**
   * The blob's file, opened for reading only when it is a regular file: a layout is input like any
   * other, and a blob name that is a link to a file elsewhere (or a FIFO, which would block) must
   * not send a byte of that file anywhere before its digest fails.
   */
  async #openFile(digest: Digest, missing: 'BLOB_UNKNOWN' | 'MANIFEST_UNKNOWN' = 'BLOB_UNKNOWN'): Promise<FileHandle> {
    await this.#checkDirs(digest);
    const path = this.pathOf(digest);
    let handle: FileHandle;
    try {
      handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw this.#unknown(digest, missing);
      if (code === 'ELOOP') throw new PolyarchError('LAYOUT_INVALID', `${this.#name}: blob ${digest} is a symbolic link, not a file`);
      throw error;
    }
    const info = await handle.stat().catch(async (error: unknown) => {
      await handle.close();
      throw error;
    });
    if (!info.isFile()) {
      await handle.close();
      throw new PolyarchError('LAYOUT_INVALID', `${this.#name}: blob ${digest} is not a regular file`);
    }
    return handle;
  }

  #unknown(digest: Digest, code: 'BLOB_UNKNOWN' | 'MANIFEST_UNKNOWN' = 'BLOB_UNKNOWN'): PolyarchError {
    return new PolyarchError(code, `${this.#name}: ${code === 'BLOB_UNKNOWN' ? 'blob' : 'manifest'} ${digest} not found`);
  }
}
