// Reads a small file a user pointed at (a configuration, a certificate) without trusting the path:
// opened non-blocking so a FIFO cannot hang us, refused unless it is a regular file, and never
// read past a size limit, so /dev/zero or a directory gives one clear error instead of a hang.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

export type RegularFileProblem = 'missing' | 'not-regular' | 'too-large' | 'unreadable';

/** More than any Dockerfile, ignore file, password file or configuration a user points at. */
export const MAX_SMALL_FILE_BYTES = 16 << 20;

/** What a read failed on, for a message: "no such file", "is a directory, not a file", … */
export function readProblem(error: unknown): string {
  if (error instanceof RegularFileError) return error.problem === 'missing' ? 'no such file' : error.message;
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

export class RegularFileError extends Error {
  override name = 'RegularFileError';
  constructor(
    readonly problem: RegularFileProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The whole file as text; RegularFileError when it is absent, not a regular file, or over `maxBytes`. */
export async function readRegularFile(path: string, maxBytes: number): Promise<string> {
  return (await readRegularBytes(path, maxBytes)).toString('utf8');
}

/**
 * The whole file's bytes, as readRegularFile checks them. `followLinks: false` (a file inside a
 * layout someone else made, such as its index.json): a link in its place is refused as not a
 * regular file instead of read wherever it points.
 */
export async function readRegularBytes(path: string, maxBytes: number, options: { readonly followLinks?: boolean } = {}): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (options.followLinks === false ? constants.O_NOFOLLOW : 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new RegularFileError('missing', 'no such file', { cause: error });
    if (code === 'ELOOP' && options.followLinks === false) throw new RegularFileError('not-regular', 'is a symbolic link, not a file', { cause: error });
    throw new RegularFileError('unreadable', code ?? (error as Error).message, { cause: error });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new RegularFileError('not-regular', stat.isDirectory() ? 'is a directory, not a file' : 'is not a regular file');
    if (stat.size > maxBytes) throw new RegularFileError('too-large', `is ${stat.size} bytes, over the limit of ${maxBytes}`);
    // The size was checked, but a file may grow between stat and read: read at most one byte more.
    const buffer = Buffer.alloc(Math.min(stat.size, maxBytes) + 1);
    let filled = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled > maxBytes) throw new RegularFileError('too-large', `is over the limit of ${maxBytes} bytes`);
      if (filled === buffer.length) break;
    }
    return buffer.subarray(0, filled);
  } catch (error) {
    if (error instanceof RegularFileError) throw error;
    throw new RegularFileError('unreadable', (error as NodeJS.ErrnoException).code ?? (error as Error).message, { cause: error });
  } finally {
    await handle.close();
  }
}
