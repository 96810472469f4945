// `mkdir -p`, one directory at a time. Node's own mkdir({ recursive: true }) (Node 20, sync and
// async alike) never returns for a path below a directory that exists but refuses new entries:
// under /proc it gets ENOENT for the child and EEXIST for the parent, and retries forever, so
// `copy … oci:/proc/x` spun at full CPU and ignored Ctrl-C. Here that is the child's ENOENT.
import { mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

const errorCode = (error: unknown): string | undefined => (error as NodeJS.ErrnoException).code;

/** Makes `path` and any missing parents (with `mode`, as mkdir -p -m); a directory already there (or a link to one) is fine. */
export async function makeDirectories(path: string, mode?: number): Promise<void> {
  const options = mode === undefined ? undefined : { mode };
  const made = async (): Promise<boolean> => {
    try {
      await mkdir(path, options);
      return true;
    } catch (error) {
      if (errorCode(error) === 'EEXIST' && (await stat(path).catch(() => undefined))?.isDirectory()) return true;
      if (errorCode(error) === 'ENOENT' && dirname(path) !== path) return false;
      throw error;
    }
  };
  if (await made()) return;
  await makeDirectories(dirname(path), mode);
  await mkdir(path, options).catch(async (error: unknown) => {
    if (errorCode(error) !== 'EEXIST' || !(await stat(path).catch(() => undefined))?.isDirectory()) throw error;
  });
}

/** makeDirectories, synchronously. */
export function makeDirectoriesSync(path: string, mode?: number): void {
  const options = mode === undefined ? undefined : { mode };
  try {
    mkdirSync(path, options);
    return;
  } catch (error) {
    if (errorCode(error) === 'EEXIST' && statSync(path, { throwIfNoEntry: false })?.isDirectory()) return;
    if (errorCode(error) !== 'ENOENT' || dirname(path) === path) throw error;
  }
  makeDirectoriesSync(dirname(path), mode);
  try {
    mkdirSync(path, options);
  } catch (error) {
    if (errorCode(error) !== 'EEXIST' || !statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw error;
  }
}
