// A destination of the wrong kind is named before anything is written: an archive over a
// directory failed at the final rename ("illegal operation on a directory, rename '.tmp-…'"), a
// layout in a file at its first lstat ("not a directory, lstat 'x.tar/blobs'"), both UNKNOWN.
import { lstatSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PolyarchError } from '../errors/polyarch-error.js';

/**
 * Refuses an archive's path when something other than a regular file is there: an archive is
 * renamed into place, so a link, a device (`/dev/null`, run as root), a pipe or a socket would be
 * replaced by it. Absent, or a regular file, is fine. Checked before the work and again just
 * before the rename.
 */
export function checkArchiveTarget(path: string, what: string): void {
  let found;
  try {
    found = lstatSync(path);
  } catch {
    return; // absent (or below something that is not a directory: the write says so)
  }
  if (found.isFile()) return;
  if (found.isDirectory()) throw new PolyarchError('USAGE', `${what}: ${path} is a directory; an archive is written as one file (oci:DIR writes a layout directory)`);
  const kind = found.isSymbolicLink() ? 'a symbolic link' : found.isFIFO() ? 'a named pipe' : found.isSocket() ? 'a socket' : 'a device';
  throw new PolyarchError('USAGE', `${what}: ${path} is ${kind}, not a file; an archive takes the place of a regular file only (a link there is not written through)`);
}

/** Refuses `path` when something of the other kind is there already (absent is fine: it is made). */
export async function checkDestinationKind(path: string, want: 'archive' | 'layout', what: string): Promise<void> {
  if (want === 'archive') return checkArchiveTarget(path, what);
  const found = await stat(path).catch(() => undefined);
  if (!found) return;
  if (want === 'layout' && !found.isDirectory()) {
    throw new PolyarchError('USAGE', `${what}: ${path} is a file, not a directory; an OCI layout is a directory (oci-archive:FILE writes a tar)`);
  }
}
