// The embedded registry's list of repository names, so that /v2/_catalog and the web page's
// repository list cost the page asked for, not a walk over every repository directory.
//
// Held in memory (sorted) and kept as `<root>/repositories.json`. The file is written ahead: a
// new name is saved (temp file, fsync, rename) before the repository's first file is created,
// so after a crash it lists every repository and at most a few names whose directory never
// appeared. Repositories are never removed (a repository whose manifests were all deleted is
// still listed, as distribution does), so the file never lists too few.
//
// The file is derived data and read as hostile: at start it is used only when it is a regular
// file (a symlink is not followed) of a sane size holding sorted, unique names of the
// repository-name grammar (no `..`, no leading `/`), and each name it lists is kept only when its
// directory is really there, made of directories, not symlinks. Anything else is rebuilt from the
// directories, once, and written back. One server per root (its start clears uploads/): what
// another process adds to the tree behind it is not seen until the next start; garbage
// collection, which may run beside the server, walks the directories itself (garbage.ts).
import { constants } from 'node:fs';
import { lstat, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../store/atomic-write.js';

export const REPOSITORY_INDEX_FILE = 'repositories.json';
const VERSION = 1;
/** Far above any real index (about 30 bytes a name): a larger file is not read, only rebuilt over. */
const MAX_INDEX_BYTES = 16 * 1024 * 1024;
const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

export function isRepositoryName(name: string): boolean {
  return name.length <= 255 && NAME.test(name);
}

/**
 * Every repository directory under `<root>/repositories`, sorted, read from the directories
 * themselves: one holding `_blobs` or `_manifests`, reached without following a symlink. Names
 * outside the grammar are included (garbage collection must keep what they reference).
 */
export async function scanRepositories(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, prefix: string[]): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    if (prefix.length > 0 && entries.some((e) => e.name === '_blobs' || e.name === '_manifests')) found.push(prefix.join('/'));
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('_')) await walk(join(dir, e.name), [...prefix, e.name]);
  };
  await walk(join(root, 'repositories'), []);
  return found.sort();
}

/** The first position in sorted `names` holding a name after `name`. */
export function firstAfter(names: readonly string[], name: string): number {
  let low = 0;
  let high = names.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (names[middle]! <= name) low = middle + 1;
    else high = middle;
  }
  return low;
}

export class RepositoryIndex {
  readonly #root: string;
  /** Sorted; replaced (never changed in place) on every addition, so a caller's copy stays as it was. */
  #names: readonly string[] | undefined;
  #loading: Promise<void> | undefined;
  /** Saves one after another, each of the list as it then is. */
  #saving: Promise<void> = Promise.resolve();

  constructor(root: string) {
    this.#root = root;
  }

  get #file(): string {
    return join(this.#root, REPOSITORY_INDEX_FILE);
  }

  /** Reads the file, or rebuilds it from the directories; once. */
  load(): Promise<void> {
    this.#loading ??= this.#load().catch((error: unknown) => {
      this.#loading = undefined;
      throw error;
    });
    return this.#loading;
  }

  async #load(): Promise<void> {
    const text = await readIndexFile(this.#file);
    const listed = text === undefined ? undefined : parseIndex(text);
    if (listed) {
      const present = await inBatches(listed, (name) => isRepositoryDirectory(this.#root, name));
      const names = listed.filter((_, i) => present[i]);
      this.#names = names;
      if (names.length === listed.length) return;
    } else {
      // Only names a request can use: the file is checked against the same grammar when read.
      this.#names = (await scanRepositories(this.#root)).filter(isRepositoryName);
    }
    // Rewritten so the next start trusts it; a root that cannot be written (read-only) keeps the list in memory.
    await this.#save().catch(() => undefined);
  }

  /** Every repository name, sorted. */
  async names(): Promise<readonly string[]> {
    await this.load();
    return this.#names!;
  }

  /** Lists `name` and saves the list before returning: call it before creating the repository's first file. */
  async add(name: string): Promise<void> {
    await this.load();
    const names = this.#names!;
    const at = firstAfter(names, name);
    if (at > 0 && names[at - 1] === name) return;
    this.#names = [...names.slice(0, at), name, ...names.slice(at)];
    try {
      await this.#save();
    } catch (error) {
      // Not saved: a file left as it was would miss this name at the next start, so it goes (and is
      // rebuilt then); when even that fails, the repository is not created.
      await rm(this.#file, { force: true }).catch(() => undefined);
      if (await lstat(this.#file).then(() => true, () => false)) {
        this.#names = this.#names.filter((n) => n !== name);
        throw error;
      }
    }
  }

  /** Takes `name` back out when its directory was not created after all (its first write failed). */
  async forgetUnlessPresent(name: string): Promise<void> {
    if (!this.#names?.includes(name) || (await isRepositoryDirectory(this.#root, name))) return;
    this.#names = this.#names.filter((n) => n !== name);
    await this.#save().catch(() => undefined);
  }

  #save(): Promise<void> {
    const next = this.#saving.catch(() => undefined).then(() => writeFileAtomic(this.#file, Buffer.from(JSON.stringify({ version: VERSION, repositories: this.#names }))));
    this.#saving = next;
    return next;
  }
}

/** Sorted, unique, grammatical names when `text` is exactly an index; undefined for anything else. */
function parseIndex(text: string): string[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { version, repositories } = value as { version?: unknown; repositories?: unknown };
  if (version !== VERSION || !Array.isArray(repositories)) return undefined;
  for (let i = 0; i < repositories.length; i++) {
    const name: unknown = repositories[i];
    if (typeof name !== 'string' || !isRepositoryName(name) || (i > 0 && !((repositories[i - 1] as string) < name))) return undefined;
  }
  return repositories as string[];
}

/** The repository's directory is there, every component a directory (no symlink), with its links in it. */
async function isRepositoryDirectory(root: string, name: string): Promise<boolean> {
  let path = join(root, 'repositories');
  for (const part of name.split('/')) {
    path = join(path, part);
    const info = await lstat(path).catch(() => undefined);
    if (!info?.isDirectory()) return false;
  }
  for (const marker of ['_blobs', '_manifests']) if (await lstat(join(path, marker)).then(() => true, () => false)) return true;
  return false;
}

/** The file's text when it is a regular file of a sane size; a symlink, a FIFO, a directory or a huge file is not read. */
async function readIndexFile(path: string): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    // O_NOFOLLOW: a symlink planted under the name is not followed; O_NONBLOCK: nor does a FIFO hang.
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > MAX_INDEX_BYTES) return undefined;
    return await handle.readFile('utf8');
  } catch {
    return undefined;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Checks issued together so their file system round trips overlap; a bounded number at a time. */
const BATCH = 32;

async function inBatches<T, R>(items: readonly T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += BATCH) results.push(...(await Promise.all(items.slice(i, i + BATCH).map(work))));
  return results;
}
