// A destination of the wrong kind is named before anything is written: an archive over a
// directory failed at the final rename ("illegal operation on a directory, rename '.tmp-…'"), a
// layout in a file at its first lstat ("not a directory, lstat 'x.tar/blobs'"), both UNKNOWN.
import { stat } from 'node:fs/promises';
import { PolyarchError } from '../errors/polyarch-error.js';
import { archiveTargetProblem } from '../internal/archive-target.js';

/**
 * Refuses an archive's path when something other than a regular file is there (a link, a device,
 * a pipe, a directory): the archive would be renamed over it. Checked before the work and again
 * just before the rename.
 */
export function checkArchiveTarget(path: string, what: string): void {
  const problem = archiveTargetProblem(path);
  if (problem !== undefined) throw new PolyarchError('USAGE', `${what}: ${problem}`);
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
