// Every disk write is atomic: a temp file on the same filesystem, opened with 'wx', verified and
// synced, then moved into place; on every failure path the temp file is removed (cacache write.js).
import { link, lstat, open, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../digest/digest.js';
import { VerifyStream, verifyStream } from '../digest/verify-stream.js';
import type { PieceTaker } from '../internal/streams.js';
import { tempPathIn } from '../internal/temp-path.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { makeDirectories } from '../internal/make-directories.js';

/** Replaces `path` with `bytes` in one step: readers see the old file or the new one, never a part. */
export async function writeFileAtomic(path: string, bytes: Uint8Array, options: { readonly mode?: number } = {}): Promise<void> {
  await makeDirectories(dirname(path));
  const temp = tempPathIn(dirname(path));
  let moved = false;
  try {
    const handle = await open(temp, 'wx', options.mode ?? 0o644);
    try {
      await handle.writeFile(bytes);
      await handle.sync(); // the rename must not land before the data does (crash safety)
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    moved = true;
  } finally {
    if (!moved) await rm(temp, { force: true });
  }
}

export interface StreamWriteOptions {
  readonly digest: Digest;
  /** Declared size; the write fails as soon as more arrives, or at the end if fewer did. */
  readonly size?: number;
  /** Names the content in messages. */
  readonly what?: string;
  /** Where the temp file goes (default: beside `finalPath`); must be on the same filesystem. */
  readonly tempDir?: string;
  readonly signal?: AbortSignal;
}

/**
 * Streams content into `finalPath` only if it matches `digest` (and `size`). The file appears
 * whole or not at all. Content-addressed: when `finalPath` already exists (a concurrent writer
 * won), it holds the same bytes, so that counts as success and the existing file is left alone.
 */
export async function writeStreamAtomic(finalPath: string, content: Readable, options: StreamWriteOptions): Promise<void> {
  await makeDirectories(dirname(finalPath));
  const temp = await writeVerifiedTemp(options.tempDir ?? dirname(finalPath), content, { ...options, sync: true });
  try {
    await placeWithoutOverwrite(temp, finalPath);
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * Streams content into a new temp file in `tempDir` only if it matches `digest` (and `size`),
 * synced when `sync` is set, and returns its path: the caller places it (after syncing it, if it
 * was not) or removes it. On failure nothing is left behind.
 */
export async function writeVerifiedTemp(tempDir: string, content: Readable, options: StreamWriteOptions & { readonly sync: boolean }): Promise<string> {
  try {
    return await writeTemp(tempDir, options.sync, async (handle) => {
      // Content read through polyarch is verified already; hashing it twice would only cost time.
      const checked = content instanceof VerifyStream && content.verifies(options.digest, options.size);
      const verifier = checked
        ? undefined
        : verifyStream({
            digest: options.digest,
            ...(options.size !== undefined ? { size: options.size } : {}),
            ...(options.what !== undefined ? { what: options.what } : {}),
          });
      const sink = fileSink(handle);
      const stages = verifier ? [content, verifier, sink] : [content, sink];
      await pipeline(stages, ...(options.signal ? [{ signal: options.signal }] : []));
    });
  } catch (error) {
    content.destroy(); // release the source (a socket, a file) on any failure
    throw error;
  }
}

/**
 * Like writeVerifiedTemp, for a blob that moves without a stream: `read` hands the file its pieces
 * in order (written at their positions, several at once) and verifies them itself, rejecting
 * after the last one when they are wrong (the registry's readBlobInto). On failure nothing is
 * left behind.
 */
export function writeTempFrom(tempDir: string, read: (take: PieceTaker) => Promise<void>, options: { readonly sync: boolean }): Promise<string> {
  return writeTemp(tempDir, options.sync, async (handle) => {
    let end = 0;
    await read(async (piece) => {
      const at = end;
      end += piece.length;
      // A write may take fewer bytes than offered; carry on from where it stopped.
      for (let done = 0; done < piece.length; ) done += (await handle.write(piece, done, piece.length - done, at + done)).bytesWritten;
    });
  });
}

/** A new temp file in `tempDir` filled by `fill`, synced when `sync` is set; removed unless `fill` succeeds. */
async function writeTemp(tempDir: string, sync: boolean, fill: (handle: FileHandle) => Promise<void>): Promise<string> {
  await makeDirectories(tempDir);
  const temp = tempPathIn(tempDir);
  let handle: FileHandle | undefined;
  let written = false;
  try {
    // Opened here, not lazily by a stream, so the file surely exists before `finally` removes it.
    handle = await open(temp, 'wx', 0o644);
    await fill(handle);
    if (sync) await handle.sync();
    await handle.close();
    handle = undefined;
    written = true;
    return temp;
  } finally {
    await handle?.close().catch(() => undefined);
    if (!written) await rm(temp, { force: true });
  }
}

/** Makes a file's data durable (fsync through a fresh descriptor: any one flushes the file). */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** link() never replaces an existing file: a regular file there holds identical content already. The source stays for the caller to remove (unless it replaced something else there). */
export async function placeWithoutOverwrite(temp: string, finalPath: string): Promise<void> {
  try {
    await link(temp, finalPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Another writer placed the same bytes first; anything but a regular file there (a planted
    // link, a FIFO) is not them, and is replaced, never followed.
    const there = code === 'EEXIST' ? await lstat(finalPath).catch(() => undefined) : undefined;
    if (there?.isFile()) return;
    // A directory cannot be replaced by a rename; it is no blob either.
    if (there?.isDirectory()) throw new PolyarchError('LAYOUT_INVALID', `${finalPath} is a directory where a file belongs; remove it`);
    if (code === 'EEXIST') {
      await rename(temp, finalPath);
      return;
    }
    // Filesystems without hard links: rename, which may replace an identical file (still safe).
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
      await rename(temp, finalPath);
      return;
    }
    throw error;
  }
}

/**
 * What a file sink gathers before one write call: a few large writes cost less than many small
 * ones. Socket reads arrive 64 KiB at a time; at 256 KiB a 630 MB copy into a layout spent about
 * a third more CPU (mostly system time, one thread-pool write per batch) than at 1 MiB, and six
 * blobs in flight hold at most 6 MiB here.
 */
const SINK_BUFFER = 1024 * 1024;

/**
 * A Writable over an open FileHandle that leaves closing to the caller, who syncs first. Chunks
 * that arrive while a write is under way are written together by one writev.
 * (FileHandle.createWriteStream with autoClose: false keeps a reference that makes close() wait.)
 */
export function fileSink(handle: FileHandle): Writable {
  const writeAll = async (buffers: Buffer[]): Promise<void> => {
    // A write may take fewer bytes than offered; carry on from where it stopped.
    while (buffers.length > 0) {
      let written = (await handle.writev(buffers)).bytesWritten;
      while (buffers.length > 0 && written >= buffers[0]!.length) written -= buffers.shift()!.length;
      if (written > 0) buffers[0] = buffers[0]!.subarray(written);
    }
  };
  return new Writable({
    highWaterMark: SINK_BUFFER,
    write(chunk: Buffer, _encoding, done) {
      writeAll([chunk]).then(() => done(), done);
    },
    writev(chunks, done) {
      writeAll(chunks.map((c) => c.chunk as Buffer)).then(() => done(), done);
    },
  });
}
