// Writes a directory tree (a staged layout) as an uncompressed tar, atomically: a temp file
// next to the target, renamed into place only when complete.
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { tempPathIn } from '../internal/temp-path.js';

/** Paths relative to `root`, files only, in the order given (callers put small metadata first). */
export async function writeTarAtomic(target: string, root: string, files: readonly string[], options: { signal?: AbortSignal } = {}): Promise<void> {
  const temp = tempPathIn(dirname(target));
  const tar = pack();
  const output = pipeline(tar, createWriteStream(temp, { flags: 'wx' }), ...(options.signal ? [{ signal: options.signal }] : []));
  let moved = false;
  try {
    for (const name of files) {
      const path = join(root, name);
      const { size } = await stat(path);
      // Fixed times and owners: the same content gives the same archive.
      const entry = tar.entry({ name, size, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 });
      await pipeline(createReadStream(path), entry);
    }
    tar.finalize();
    await output;
    await rename(temp, target);
    moved = true;
  } catch (error) {
    tar.destroy();
    await output.catch(() => undefined);
    throw error;
  } finally {
    if (!moved) await rm(temp, { force: true });
  }
}

/** Every file under `root`, relative, sorted. */
export async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join((e as unknown as { parentPath?: string; path: string }).parentPath ?? (e as unknown as { path: string }).path, e.name).slice(root.length + 1))
    .sort();
}
