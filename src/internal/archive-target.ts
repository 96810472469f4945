// Where an archive is renamed into place, only a regular file (or nothing) may be: a link, a
// device (`/dev/null`, run as root), a pipe or a socket there would be replaced by the archive.
import { lstatSync } from 'node:fs';

/** What is wrong with `path` as the place of an archive (absent or a regular file: nothing). */
export function archiveTargetProblem(path: string): string | undefined {
  let found;
  try {
    found = lstatSync(path);
  } catch {
    return undefined; // absent (or below something that is not a directory: the write says so)
  }
  if (found.isFile()) return undefined;
  if (found.isDirectory()) return `${path} is a directory; an archive is written as one file (oci:DIR writes a layout directory)`;
  const kind = found.isSymbolicLink() ? 'a symbolic link' : found.isFIFO() ? 'a named pipe' : found.isSocket() ? 'a socket' : 'a device';
  return `${path} is ${kind}, not a file; an archive takes the place of a regular file only (a link there is not written through)`;
}
