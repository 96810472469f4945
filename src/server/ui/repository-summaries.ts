// The web page's per-repository summary, kept beside the repository's links as
// `repositories/<name>/_summary.json`: every tag with its digest, when it was last set, and its
// platform matrix, plus how many stored manifests name each digest as their subject. With it a
// page of the listing reads one small file per repository shown instead of every manifest of
// every repository.
//
// The file is a cache, never the truth. It is updated on every manifest PUT/DELETE and tag
// change, and rebuilt from the store whenever it is missing, unreadable, of the wrong shape, or
// stale: its tag names differ from the `_tags` folder, the `_manifests` folder changed since it
// was written, or a tag it is about to answer with points elsewhere now. A hostile or
// half-written file therefore can neither list a tag that does not exist nor crash a request.
import { constants } from 'node:fs';
import { open, readdir, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, type Digest } from '../../digest/digest.js';
import { tempPathIn } from '../../internal/temp-path.js';
import type { RegistryStorage } from '../storage.js';
import { describeTag, referrerOf, type PlatformRow, type ReferrerRow, type TagDescription } from './api.js';
import { inBatches } from '../../internal/batches.js';

/** Reads issued together so their file system round trips overlap; a bounded number at a time. */
const BATCH = 16;

const FILE = '_summary.json';
const VERSION = 2;

export interface TagEntry {
  readonly tag: string;
  readonly digest: Digest;
  /** When the tag was last set (ms since the epoch): the listing shows the newest first. */
  readonly updated: number;
  readonly description: TagDescription;
}

export interface RepositorySummaryData {
  /** Tags that resolve to a stored manifest, newest first. */
  readonly tags: readonly TagEntry[];
  /** Stored manifests naming each digest as their subject (signatures, SBOMs, attestations). */
  readonly subjects: ReadonlyMap<string, readonly ReferrerRow[]>;
}

interface Stored {
  readonly version: typeof VERSION;
  /** The `_manifests` folder's mtime when the file was written: any other means manifests changed behind it. */
  readonly manifests: number;
  /** Every name in `_tags`, dangling ones included (they are not listed, but they are not news either). */
  readonly names: readonly string[];
  readonly tags: readonly TagEntry[];
  readonly subjects: Readonly<Record<string, readonly ReferrerRow[]>>;
}

type Json = Record<string, unknown>;

const asObject = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const optional = (v: unknown, check: (x: unknown) => boolean): boolean => v === undefined || check(v);

function isRow(value: unknown): value is PlatformRow {
  const row = asObject(value);
  return (
    row !== undefined &&
    typeof row.platform === 'string' &&
    typeof row.digest === 'string' &&
    optional(row.size, isCount) &&
    optional(row.created, (x) => typeof x === 'string') &&
    optional(row.attestation, (x) => typeof x === 'boolean')
  );
}

function isReferrer(value: unknown): value is ReferrerRow {
  const row = asObject(value);
  return row !== undefined && typeof row.digest === 'string' && isDigest(row.digest) && typeof row.mediaType === 'string' && isCount(row.size) && optional(row.artifactType, (x) => typeof x === 'string');
}

const isReferrerList = (v: unknown): boolean => Array.isArray(v) && v.every(isReferrer);

function isEntry(value: unknown): value is TagEntry {
  const entry = asObject(value);
  const description = asObject(entry?.description);
  return (
    entry !== undefined &&
    typeof entry.tag === 'string' &&
    typeof entry.digest === 'string' &&
    isDigest(entry.digest) &&
    typeof entry.updated === 'number' &&
    Number.isFinite(entry.updated) &&
    description !== undefined &&
    typeof description.mediaType === 'string' &&
    (description.kind === 'index' || description.kind === 'image' || description.kind === 'other') &&
    Array.isArray(description.platforms) &&
    description.platforms.every(isRow)
  );
}

/** The stored file when it has exactly the expected shape; anything else is undefined (and rebuilt). */
function parseStored(text: string): Stored | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const body = asObject(value);
  const subjects = asObject(body?.subjects);
  if (!body || body.version !== VERSION || typeof body.manifests !== 'number' || !Array.isArray(body.names) || !Array.isArray(body.tags) || !subjects) return undefined;
  if (!body.names.every((n) => typeof n === 'string') || !body.tags.every(isEntry) || !Object.values(subjects).every(isReferrerList)) return undefined;
  const names = new Set(body.names as string[]);
  // Each listed tag once, and only names the file itself says are in `_tags`.
  const listed = new Set((body.tags as TagEntry[]).map((t) => t.tag));
  if (listed.size !== body.tags.length || [...listed].some((t) => !names.has(t))) return undefined;
  return body as unknown as Stored;
}

const newestFirst = (a: TagEntry, b: TagEntry): number => b.updated - a.updated || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0);

/** Tag names as `_tags` holds them (temp files of atomic writes start with a dot). */
async function tagNames(dir: string): Promise<string[]> {
  return (await readdir(join(dir, '_tags')).catch(() => [] as string[])).filter((t) => !t.startsWith('.')).sort();
}

async function manifestsStamp(dir: string): Promise<number> {
  return (await stat(join(dir, '_manifests')).catch(() => undefined))?.mtimeMs ?? 0;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sorted = [...a].sort();
  return sorted.every((n, i) => n === b[i]);
}

export class RepositorySummaries {
  readonly #storage: RegistryStorage;
  /** One update or rebuild per repository at a time (a promise chain per name). */
  readonly #queues = new Map<string, Promise<unknown>>();
  #lastSet = 0;

  constructor(storage: RegistryStorage) {
    this.#storage = storage;
  }

  #dir(name: string): string {
    return join(this.#storage.root, 'repositories', ...name.split('/'));
  }

  /** A time for a tag just set, later than any before it: tags pushed in one millisecond still keep their order. */
  #now(): number {
    this.#lastSet = Math.max(Date.now(), this.#lastSet + 0.001);
    return this.#lastSet;
  }

  #serialized<T>(name: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(name) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    this.#queues.set(name, settled);
    void settled.then(() => {
      if (this.#queues.get(name) === settled) this.#queues.delete(name);
    });
    return next;
  }

  /** The stored file when it still matches the repository's tags and manifests; undefined otherwise. */
  async #loadCurrent(name: string): Promise<Stored | undefined> {
    const dir = this.#dir(name);
    const text = await readSummaryFile(join(dir, FILE));
    const stored = text === undefined ? undefined : parseStored(text);
    if (!stored) return undefined;
    if (stored.manifests !== (await manifestsStamp(dir))) return undefined;
    return sameNames(stored.names, await tagNames(dir)) ? stored : undefined;
  }

  /**
   * Written through a temp file and rename, without fsync: after a crash the file is the old one,
   * the new one or empty, and each of those is checked and rebuilt on the next read.
   */
  async #save(name: string, stored: Stored): Promise<void> {
    const dir = this.#dir(name);
    const temp = tempPathIn(dir);
    try {
      await writeFile(temp, JSON.stringify(stored), { flag: 'wx' });
      await rename(temp, join(dir, FILE));
    } catch {
      // Not saved (the repository was removed meanwhile, a directory is in the way, the disk is
      // full): the answer is still right, and the next read summarizes again.
      await rm(temp, { force: true }).catch(() => undefined);
    }
  }

  /** Reads every tag and manifest of the repository (the cost the file exists to avoid on each page load). */
  async #rebuild(name: string): Promise<Stored> {
    const dir = this.#dir(name);
    // Stamped before reading: a change while this runs leaves a stamp that no longer matches.
    const manifests = await manifestsStamp(dir);
    const names = await tagNames(dir);
    const subjects: Record<string, ReferrerRow[]> = {};
    for (const found of await inBatches(await this.#storage.manifestDigests(name).catch(() => [] as Digest[]), BATCH, (digest) => referrerOf(this.#storage, name, digest))) {
      if (found) (subjects[found.subject] ??= []).push(found.row);
    }
    const tags = (await inBatches(names, BATCH, (tag) => this.#describe(name, tag))).filter((t): t is TagEntry => t !== undefined);
    const stored: Stored = { version: VERSION, manifests, names, tags: tags.sort(newestFirst), subjects };
    await this.#save(name, stored);
    return stored;
  }

  async #describe(name: string, tag: string, updated?: number): Promise<TagEntry | undefined> {
    const digest = await this.#storage.resolve(name, tag).catch(() => undefined);
    if (!digest) return undefined;
    const when = updated ?? (await stat(join(this.#dir(name), '_tags', tag)).catch(() => undefined))?.mtimeMs ?? 0;
    return { tag, digest, updated: when, description: await describeTag(this.#storage, name, digest) };
  }

  /**
   * The summary to answer with. `check` names the tags about to be shown: each must still point
   * where the summary says, or the repository is summarized again from the store.
   */
  async read(name: string, check: (data: RepositorySummaryData) => readonly TagEntry[] = () => []): Promise<RepositorySummaryData> {
    const current = await this.#loadCurrent(name);
    if (current) {
      const data = toData(current);
      let fresh = true;
      for (const entry of check(data)) {
        if ((await this.#storage.resolve(name, entry.tag).catch(() => undefined)) !== entry.digest) fresh = false;
      }
      if (fresh) return data;
    }
    return toData(await this.#serialized(name, () => this.#rebuild(name)));
  }

  /**
   * Runs `write` (a manifest PUT) and brings the summary along: the pushed tag is described again,
   * and a new manifest with a subject counts as a referrer. A summary already stale before the
   * write is rebuilt instead.
   */
  async afterManifestPut(name: string, digest: Digest, tag: string | undefined, write: () => Promise<void>, isNew: boolean): Promise<void> {
    await this.#serialized(name, async () => {
      const before = await this.#loadCurrent(name);
      await write();
      if (!before) return void (await this.#rebuild(name));
      const dir = this.#dir(name);
      const subjects = { ...before.subjects };
      const found = isNew ? await referrerOf(this.#storage, name, digest) : undefined;
      if (found) subjects[found.subject] = [...(subjects[found.subject] ?? []), found.row];
      let tags = before.tags;
      let names = before.names;
      if (tag !== undefined) {
        const entry = await this.#describe(name, tag, this.#now());
        tags = [...tags.filter((t) => t.tag !== tag), ...(entry ? [entry] : [])].sort(newestFirst);
        names = names.includes(tag) ? names : [...names, tag].sort();
      }
      await this.#save(name, { version: VERSION, manifests: await manifestsStamp(dir), names, tags, subjects });
    });
  }

  /** Runs `remove` (a tag DELETE) and drops the tag from the summary. */
  async afterTagDelete(name: string, tag: string, remove: () => Promise<boolean>): Promise<boolean> {
    return this.#serialized(name, async () => {
      const before = await this.#loadCurrent(name);
      const removed = await remove();
      if (!before) await this.#rebuild(name);
      else if (removed) await this.#save(name, { ...before, names: before.names.filter((n) => n !== tag), tags: before.tags.filter((t) => t.tag !== tag) });
      return removed;
    });
  }

  /** Runs `remove` (a manifest DELETE: its tags go too, and indexes may lose children) and summarizes again. */
  async afterManifestDelete(name: string, remove: () => Promise<boolean>): Promise<boolean> {
    return this.#serialized(name, async () => {
      const removed = await remove();
      if (removed) await this.#rebuild(name);
      return removed;
    });
  }
}

/** Larger than any real summary (about 1 kB a tag): a bigger file is not read, only rebuilt over. */
const MAX_SUMMARY_BYTES = 64 * 1024 * 1024;

/** The file's text when it is a regular file of a sane size; a FIFO, a directory or a huge file is not read. */
async function readSummaryFile(path: string): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO planted under the name must not hang a thread.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > MAX_SUMMARY_BYTES) return undefined;
    return await handle.readFile('utf8');
  } catch {
    return undefined;
  } finally {
    await handle.close().catch(() => undefined);
  }
}



function toData(stored: Stored): RepositorySummaryData {
  return { tags: stored.tags, subjects: new Map(Object.entries(stored.subjects)) };
}
