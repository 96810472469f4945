// Every disk write is atomic: a temp file on the same filesystem, opened with 'wx', verified,
// then renamed into place; on any failure the temp file is removed (cacache write.js).
import { createWriteStream } from 'node:fs';
import { link, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../digest/digest.js';
import { VerifyStream, verifyStream } from '../digest/verify-stream.js';
import { tempPathIn } from '../internal/temp-path.js';

/** Replaces `path` with `bytes` in one step: readers see the old file or the new one, never a part. */
export async function writeFileAtomic(path: string, bytes: Uint8Array, options: { mode?: number } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = tempPathIn(dirname(path));
  let moved = false;
  try {
    const handle = await open(temp, 'wx', options.mode ?? 0o644);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
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
  readonly size?: number;
  readonly what?: string;
  readonly signal?: AbortSignal;
}

/**
 * Streams content into `finalPath` only if it matches `digest` (and `size`). The file appears
 * whole or not at all; content-addressed, so an existing file is already the same bytes.
 */
export async function writeStreamAtomic(finalPath: string, content: Readable, options: StreamWriteOptions): Promise<void> {
  const dir = dirname(finalPath);
  await mkdir(dir, { recursive: true });
  const temp = tempPathIn(dir);
  try {
    // Content read through polyarch is verified already; hashing it twice would only cost time.
    const checked = content instanceof VerifyStream && content.verifies(options.digest, options.size);
    const stages = checked
      ? [content]
      : [content, verifyStream({ digest: options.digest, ...(options.size !== undefined ? { size: options.size } : {}), ...(options.what ? { what: options.what } : {}) })];
    await pipeline([...stages, createWriteStream(temp, { flags: 'wx' })], ...(options.signal ? [{ signal: options.signal }] : []));
    // link() never overwrites: EEXIST means a concurrent writer stored the same content first.
    try {
      await link(temp, finalPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  } finally {
    await rm(temp, { force: true });
  }
}
