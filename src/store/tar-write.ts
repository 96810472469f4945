// Writes files of a directory tree (a staged layout) as an uncompressed tar, atomically: a temp
// file next to the target, synced and renamed into place only when complete.
import { createReadStream } from 'node:fs';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { tempPathIn } from '../internal/temp-path.js';
import { fileSink } from './atomic-write.js';

/** Paths relative to `root`, files only, in the order given (callers put small metadata first). */
export async function writeTarAtomic(target: string, root: string, files: readonly string[], options: { readonly signal?: AbortSignal } = {}): Promise<void> {
  const temp = tempPathIn(dirname(target));
  const handle = await open(temp, 'wx', 0o644);
  const tar = pack();
  const output = pipeline(tar, fileSink(handle), ...(options.signal ? [{ signal: options.signal }] : []));
  output.catch(() => undefined); // awaited below; a failure while adding entries must not surface twice
  let moved = false;
  try {
    for (const name of files) {
      options.signal?.throwIfAborted();
      const path = join(root, name);
      const { size } = await stat(path);
      // Fixed times and owners: the same content gives the same archive.
      const entry = tar.entry({ name: name.split(sep).join('/'), size, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 });
      await pipeline(createReadStream(path), entry);
    }
    tar.finalize();
    await output;
    await handle.sync();
    await handle.close();
    await rename(temp, target);
    moved = true;
  } catch (error) {
    tar.destroy();
    await output.catch(() => undefined);
    throw error;
  } finally {
    await handle.close().catch(() => undefined);
    if (!moved) await rm(temp, { force: true });
  }
}

/** Every file under `root`, relative, sorted. */
export async function listFiles(root: string): Promise<string[]> {
  const files: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await visit(path);
      else if (entry.isFile()) files.push(relative(root, path));
    }
  };
  await visit(root);
  return files.sort();
}
