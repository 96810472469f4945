// Writes files of a directory tree (a staged layout) as an uncompressed tar, atomically: a temp
// file next to the target, synced and renamed into place only when complete.
import { createReadStream } from 'node:fs';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { lazyModule } from '../internal/lazy-module.js';

import { createDigester, digestFromHash, type Digest } from '../digest/digest.js';
import { tempPathIn } from '../internal/temp-path.js';
import { fileSink } from './atomic-write.js';
import { checkArchiveTarget } from './destination.js';
import { removeOrphanStaging } from './gc.js';

// Loaded when an archive is written: most commands never write one.
const tarStream = lazyModule<typeof import('tar-stream')>('tar-stream');

/** One file of a tar being written: its name in the archive, its size, and where its bytes come from. */
export interface TarSource {
  readonly name: string;
  readonly size: number;
  /** Opened only when the entry is written, so thousands of sources hold no open files. */
  readonly open: () => Promise<Readable> | Readable;
}

/** Paths relative to `root`, files only, in the order given (callers put small metadata first). */
export async function writeTarAtomic(target: string, root: string, files: readonly string[], options: { readonly signal?: AbortSignal } = {}): Promise<void> {
  const sources: TarSource[] = [];
  for (const name of files) {
    const path = join(root, name);
    const { size } = await stat(path);
    sources.push({ name: name.split(sep).join('/'), size, open: () => createReadStream(path) });
  }
  await writeTarEntriesAtomic(target, sources, options);
}

/**
 * Writes the sources as a tar into `target` (temp file + sync + rename) and returns the sha256
 * of the archive, hashed as it is written. A source whose stream fails (a verifying stream
 * that finds a mismatch) fails the whole write, and nothing appears.
 */
export async function writeTarEntriesAtomic(target: string, sources: readonly TarSource[], options: { readonly signal?: AbortSignal } = {}): Promise<Digest> {
  checkArchiveTarget(target, target);
  // A writer killed outright (SIGKILL, a CI job's timeout) left its temp archive here: gone now, as beside an oci-archive.
  await removeOrphanStaging(dirname(target));
  const temp = tempPathIn(dirname(target));
  const handle = await open(temp, 'wx', 0o644);
  const tar = tarStream().pack();
  const hash = createDigester('sha256');
  const hashing = new PassThrough({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const output = pipeline(tar, hashing, fileSink(handle), ...(options.signal ? [{ signal: options.signal }] : []));
  output.catch(() => undefined); // awaited below; a failure while adding entries must not surface twice
  let moved = false;
  try {
    for (const source of sources) {
      options.signal?.throwIfAborted();
      // Fixed times and owners: the same content gives the same archive.
      const entry = tar.entry({ name: source.name, size: source.size, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 });
      await pipeline(await source.open(), entry);
    }
    tar.finalize();
    await output;
    await handle.sync();
    await handle.close();
    // Again at the last moment: nothing but a regular file is ever replaced.
    checkArchiveTarget(target, target);
    await rename(temp, target);
    moved = true;
    return digestFromHash(hash, 'sha256');
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
