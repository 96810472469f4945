// Removing a tree someone else's files may have made unwritable to its owner (a 0500 directory a
// step left), never following a link out of it.
import { chmod, lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Removes `path` and everything below it without following a link: each entry is lstat'ed, links
 * and files are unlinked, directories emptied (made writable first) and removed.
 */
export async function removeTreeNoFollow(path: string): Promise<void> {
  const facts = await lstat(path).catch(() => undefined);
  if (facts === undefined) return;
  if (!facts.isDirectory()) {
    await unlink(path).catch(() => undefined);
    return;
  }
  await chmod(path, 0o700).catch(() => undefined);
  for (const name of await readdir(path).catch(() => [] as string[])) await removeTreeNoFollow(join(path, name));
  await rmdir(path).catch(() => undefined);
}

/**
 * Gives the caller read access to everything below `path` it owns (u+r on files, u+rwx on
 * directories), never following a link: a tree an unprivileged export unpacked may hold a 0000
 * file or directory it must still read. Entries it cannot change are left as they are.
 */
export async function openTreeToOwner(path: string): Promise<void> {
  const facts = await lstat(path).catch(() => undefined);
  if (facts === undefined || facts.isSymbolicLink()) return;
  if (facts.isFile()) {
    if ((facts.mode & 0o400) === 0) await chmod(path, (facts.mode & 0o7777) | 0o400).catch(() => undefined);
    return;
  }
  if (!facts.isDirectory()) return;
  if ((facts.mode & 0o700) !== 0o700) await chmod(path, (facts.mode & 0o7777) | 0o700).catch(() => undefined);
  for (const name of await readdir(path).catch(() => [] as string[])) await openTreeToOwner(join(path, name));
}
