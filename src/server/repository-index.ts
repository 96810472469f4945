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
// file (a symlink is not followed) of a sane size holding sorted, unique names that stay under
// `repositories/` (no `..`, no leading `/`), and each name it lists is kept only when its
// directory is really there, made of directories, not symlinks. Anything else is rebuilt from the
// directories, once, and written back.
//
// Other processes on the root (a second RegistryStorage, `serve --gc`) are allowed: names are
// saved under the root's lock (store/layout-lock.ts) after taking in the file as it is, and a
// listing stats the file and takes in names another process saved. A repository made behind the
// index (directories written by hand) is seen once the file is rebuilt (deleting it forces that).
// Garbage collection walks the directories itself (garbage.ts): a name missed must not cost blobs.
import { constants } from 'node:fs';
import { lstat, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../store/atomic-write.js';
import { withLayoutLock } from '../store/layout-lock.js';
import { inBatches } from '../internal/batches.js';

/** Checks issued together so their file system round trips overlap; a bounded number at a time. */
const BATCH = 32;

export const REPOSITORY_INDEX_FILE = 'repositories.json';
const VERSION = 1;
/** Far above any real index (about 30 bytes a name): a larger file is not read, only rebuilt over. */
const MAX_INDEX_BYTES = 16 * 1024 * 1024;
/** Far above the 255 characters a pushed name may have; names stored by older versions are listed too. */
const MAX_NAME_LENGTH = 4096;

/**
 * A name that stays under `repositories/` as a path: components that are not empty, `.`, `..`
 * or link folders (`_…`), with no NUL. Looser than the push grammar on purpose: a directory an
 * older version stored under another name is listed (and escaped on the page), as the walk did.
 */
function isPathSafeName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && !name.includes('\0') && name.split('/').every((part) => part !== '' && part !== '.' && part !== '..' && !part.startsWith('_'));
}

/**
 * Every repository directory under `<root>/repositories`, sorted, read from the directories
 * themselves: one holding `_blobs` or `_manifests`, reached without following a symlink.
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
  /** Sorted; replaced (never changed in place) on every change, so a caller's copy stays as it was. */
  #names: readonly string[] = [];
  #loading: Promise<void> | undefined;
  /** The file's identity when this process last read or wrote it: another means another process saved names. */
  #seen: string | undefined;
  /** Names the file lists whose directory was not there yet (saved ahead by another process): looked at again. */
  #pending: readonly string[] = [];

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
    const read = await readIndexFile(this.#file);
    const listed = read && parseIndex(read.text);
    if (listed) {
      const present = await inBatches(listed, BATCH, (name) => isRepositoryDirectory(this.#root, name));
      this.#names = listed.filter((_, i) => present[i]);
      this.#seen = read.identity;
      if (this.#names.length === listed.length) return;
    } else {
      // Only names the file may hold: it is checked the same way when read.
      this.#names = (await scanRepositories(this.#root)).filter(isPathSafeName);
    }
    // Rewritten so the next start trusts it; a root that cannot be written (read-only) keeps the list in memory.
    await withLayoutLock(this.#root, async () => {
      await this.#merge();
      await this.#write();
    }).catch(() => undefined);
  }

  /** Every repository name, sorted: one stat of the file, and a read only when another process saved names. */
  async names(): Promise<readonly string[]> {
    await this.load();
    const info = await lstat(this.#file).catch(() => undefined);
    if (this.#pending.length > 0 || (info && identityOf(info) !== this.#seen)) await this.#merge();
    return this.#names;
  }

  /**
   * Lists `name` and saves the list before returning: call it before creating the repository's
   * first file. Saved under the root's lock, after taking in what other processes saved.
   */
  async add(name: string): Promise<void> {
    await this.load();
    if (this.#has(name)) return;
    await withLayoutLock(this.#root, async () => {
      await this.#merge();
      if (this.#has(name)) return;
      const at = firstAfter(this.#names, name);
      this.#names = [...this.#names.slice(0, at), name, ...this.#names.slice(at)];
      try {
        await this.#write();
      } catch (error) {
        // Not saved: a file left as it was would miss this name at the next start, so it goes (and is
        // rebuilt then); when even that fails, the repository is not created.
        await rm(this.#file, { force: true }).catch(() => undefined);
        if (await lstat(this.#file).then(() => true, () => false)) {
          this.#names = this.#names.filter((n) => n !== name);
          throw error;
        }
      }
    });
  }

  /** Takes `name` back out when its directory was not created after all (its first write failed). */
  async forgetUnlessPresent(name: string): Promise<void> {
    if (!this.#has(name)) return;
    await withLayoutLock(this.#root, async () => {
      await this.#merge();
      if (await isRepositoryDirectory(this.#root, name)) return;
      this.#names = this.#names.filter((n) => n !== name);
      await this.#write();
    }).catch(() => undefined);
  }

  #has(name: string): boolean {
    const at = firstAfter(this.#names, name);
    return at > 0 && this.#names[at - 1] === name;
  }

  /** Takes in the names the file holds beyond ours, each once its directory is really there. */
  async #merge(): Promise<void> {
    const read = await readIndexFile(this.#file);
    const listed = read && parseIndex(read.text);
    if (!read || !listed) return;
    const known = new Set(this.#names);
    const added = listed.filter((name) => !known.has(name));
    const present = await inBatches(added, BATCH, (name) => isRepositoryDirectory(this.#root, name));
    if (present.some(Boolean)) this.#names = [...this.#names, ...added.filter((_, i) => present[i])].sort();
    this.#pending = added.filter((_, i) => !present[i]);
    this.#seen = read.identity;
  }

  async #write(): Promise<void> {
    await writeFileAtomic(this.#file, Buffer.from(JSON.stringify({ version: VERSION, repositories: this.#names })));
    const info = await lstat(this.#file).catch(() => undefined);
    this.#seen = info && identityOf(info);
  }
}

function identityOf(info: { dev: number; ino: number; size: number; mtimeMs: number }): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`;
}

/** Sorted, unique, path-safe names when `text` is exactly an index; undefined for anything else. */
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
    if (typeof name !== 'string' || !isPathSafeName(name) || (i > 0 && !((repositories[i - 1] as string) < name))) return undefined;
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

/** The file's text and identity when it is a regular file of a sane size; a symlink, a FIFO, a directory or a huge file is not read. */
async function readIndexFile(path: string): Promise<{ text: string; identity: string } | undefined> {
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
    return { text: await handle.readFile('utf8'), identity: identityOf(info) };
  } catch {
    return undefined;
  } finally {
    await handle.close().catch(() => undefined);
  }
}
