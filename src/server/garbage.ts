// `serve --gc`: removes the blobs of the embedded registry that nothing stored needs.
// Marked (kept): every manifest a repository stores (`_manifests`, so untagged manifests and
// referrers stay), every manifest a tag points to, and everything they reach: an index's
// children, an image's config and layers, an artifact's blobs. Link files are not roots: a
// client may delete a blob link of a manifest it still tags, and an upload no manifest uses
// is garbage.
// It is safe beside a server running on the same root (zot's gcDelay, where distribution's
// garbage-collect wants the registry stopped or read-only): it never touches uploads/, and a blob
// that changed, was placed, or was linked by a repository within the grace period is kept, since
// the manifest that will reference it may still be on its way. Linking a blob and pushing a
// manifest that references it refresh those times (storage.ts), so only blobs left alone for the
// whole grace period are removed. It walks the repository directories rather than trusting the
// server's name index (repository-index.ts): it may run in another process, and a repository
// missed would lose its blobs.
import { link, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isDigest, type Digest } from '../digest/digest.js';
import { isPolyarchError, PolyarchError } from '../errors/polyarch-error.js';
import { isTempName, tempPathIn } from '../internal/temp-path.js';
import { scanRepositories } from './repository-index.js';
import type { RegistryStorage } from './storage.js';

/** What a garbage collection did. */
export interface RegistryGarbageResult {
  /** Blobs removed: no manifest needs them, and they are older than the grace period. */
  readonly removed: number;
  /** Blobs kept: reachable, or unreferenced but younger than the grace period. */
  readonly kept: number;
  /** Of `kept`, the unreferenced blobs spared because they are younger than the grace period. */
  readonly young: number;
  /** Bytes of the removed blobs. */
  readonly bytesFreed: number;
}

/** How a garbage collection judges what is garbage. */
export interface RegistryGarbageOptions {
  /** Unreferenced blobs touched more recently than this are kept (default one hour, zot's gcDelay). */
  readonly gracePeriodMs?: number;
  /** The clock (ms since the epoch); defaults to Date.now. */
  readonly now?: () => number;
  /** Stops the collection between blobs: each blob is removed whole or kept, so a stopped run leaves a consistent store. */
  readonly signal?: AbortSignal;
}

/** What `collectServerGarbage` takes: the store, and how to judge what is garbage. */
export interface CollectServerGarbageOptions extends RegistryGarbageOptions {
  /** The directory the embedded registry stores into (`serve --root`). */
  readonly root: string;
}

export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;

/** The latest moment a file was written, placed (rename sets ctime) or touched. */
function changedAt(info: { mtimeMs: number; ctimeMs: number }): number {
  return Math.max(info.mtimeMs, info.ctimeMs);
}

/** A link file name (the encoded part) back to its digest, from the encoded length. */
function digestOfEncoded(encoded: string): Digest | undefined {
  const algorithm = encoded.length === 64 ? 'sha256' : encoded.length === 128 ? 'sha512' : undefined;
  const digest = algorithm && `${algorithm}:${encoded}`;
  return digest && isDigest(digest) ? digest : undefined;
}

function digestIn(value: unknown): Digest | undefined {
  const digest = typeof value === 'object' && value !== null ? (value as { digest?: unknown }).digest : undefined;
  return typeof digest === 'string' && isDigest(digest) ? digest : undefined;
}

/** What a stored manifest refers to: manifests (index children) and leaves (config, layers, artifact blobs). */
function partsOf(bytes: Buffer): { manifests: Digest[]; leaves: Digest[]; subject: Digest | undefined } {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { manifests: [], leaves: [], subject: undefined }; // not JSON: it references nothing
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { manifests: [], leaves: [], subject: undefined };
  const manifest = body as Record<string, unknown>;
  const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
  const digests = (values: unknown[]): Digest[] => values.map(digestIn).filter((d): d is Digest => d !== undefined);
  return {
    manifests: digests(list(manifest.manifests)),
    leaves: digests([manifest.config, ...list(manifest.layers), ...list(manifest.blobs)]),
    subject: digestIn(manifest.subject),
  };
}

/** Every digest a stored manifest refers to: index children, config, layers, artifact blobs and subject. */
export function referencesOf(bytes: Buffer): Digest[] {
  const { manifests, leaves, subject } = partsOf(bytes);
  return [...manifests, ...leaves, ...(subject ? [subject] : [])];
}

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
}

/** Every digest something stored needs. Refuses (throws) when a manifest it must read cannot be read. */
async function markReachable(storage: RegistryStorage, signal: AbortSignal | undefined): Promise<Set<Digest>> {
  const reachable = new Set<Digest>();
  const pending: Digest[] = [];
  const keepManifest = (digest: Digest): void => {
    if (reachable.has(digest)) return;
    reachable.add(digest);
    pending.push(digest);
  };
  for (const repo of await scanRepositories(storage.root)) {
    const dir = join(storage.root, 'repositories', ...repo.split('/'));
    for (const name of await names(join(dir, '_manifests'))) {
      const digest = digestOfEncoded(name);
      if (digest) keepManifest(digest);
    }
    for (const tag of await names(join(dir, '_tags'))) {
      const text = (await readFile(join(dir, '_tags', tag), 'utf8').catch(() => '')).trim();
      if (isDigest(text)) keepManifest(text);
    }
  }
  while (pending.length > 0) {
    signal?.throwIfAborted();
    const digest = pending.pop()!;
    let bytes: Buffer;
    try {
      bytes = await storage.blobs.readSmall(digest, `manifest ${digest}`);
    } catch (error) {
      // Gone already: it reaches nothing. Unreadable or corrupt: what it needs is unknown, so stop.
      if (isPolyarchError(error) && error.code === 'MANIFEST_UNKNOWN') continue;
      throw new PolyarchError('MANIFEST_INVALID', `cannot collect garbage: manifest ${digest} cannot be read (${(error as Error).message}); nothing was removed`, { cause: error });
    }
    const { manifests, leaves } = partsOf(bytes);
    for (const d of manifests) keepManifest(d);
    for (const d of leaves) reachable.add(d);
  }
  return reachable;
}

/**
 * Removes the blob file judged old, unless a push placed new bytes under its name since it was
 * looked at: the file is first moved aside (atomic), and if what moved is not the file judged
 * (another inode or mtime), it is linked back (never over a newer one) and kept.
 */
async function removeIfUnchanged(path: string, judged: { ino: number; mtimeMs: number }): Promise<boolean> {
  const aside = tempPathIn(dirname(path), 'gc');
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  try {
    const moved = await stat(aside);
    if (moved.ino === judged.ino && moved.mtimeMs === judged.mtimeMs) return true;
    await link(aside, path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    return false;
  } finally {
    await rm(aside, { force: true });
  }
}

export async function collectRegistryGarbage(storage: RegistryStorage, options: RegistryGarbageOptions = {}): Promise<RegistryGarbageResult> {
  const grace = options.gracePeriodMs ?? DEFAULT_GC_GRACE_MS;
  if (!Number.isSafeInteger(grace) || grace < 0) throw new PolyarchError('USAGE', `gracePeriodMs must be a whole number of at least 0, not ${grace}`);
  const reachable = await markReachable(storage, options.signal);
  const cutoff = (options.now ?? Date.now)() - grace;
  // The newest link of each blob: a mount or a manifest push refreshes it.
  const linkFiles: { path: string; digest: Digest; changed: number }[] = [];
  const linkedAt = new Map<Digest, number>();
  for (const repo of await scanRepositories(storage.root)) {
    const dir = join(storage.root, 'repositories', ...repo.split('/'), '_blobs');
    for (const name of await names(dir)) {
      const digest = digestOfEncoded(name);
      const info = digest && (await stat(join(dir, name)).catch(() => undefined));
      if (!digest || !info) continue;
      linkFiles.push({ path: join(dir, name), digest, changed: changedAt(info) });
      linkedAt.set(digest, Math.max(linkedAt.get(digest) ?? 0, changedAt(info)));
    }
  }
  let removed = 0;
  let kept = 0;
  let young = 0;
  let bytesFreed = 0;
  const gone = new Set<Digest>();
  const blobs = join(storage.root, 'blobs');
  for (const algorithm of await names(blobs)) {
    for (const encoded of await names(join(blobs, algorithm))) {
      options.signal?.throwIfAborted();
      if (isTempName(encoded)) continue;
      const digest = `${algorithm}:${encoded}`;
      if (isDigest(digest) && reachable.has(digest)) {
        kept++;
        continue;
      }
      const path = join(blobs, algorithm, encoded);
      const info = await stat(path).catch(() => undefined);
      if (!info?.isFile()) {
        kept++;
        continue;
      }
      if (changedAt(info) > cutoff || (isDigest(digest) && (linkedAt.get(digest) ?? 0) > cutoff)) {
        kept++;
        young++;
        continue;
      }
      if (!(await removeIfUnchanged(path, info))) {
        kept++;
        young++;
        continue;
      }
      if (isDigest(digest)) gone.add(digest);
      removed++;
      bytesFreed += info.size;
    }
  }
  // Links to removed blobs go too (a later push of the same bytes elsewhere must not revive them
  // here), and old links whose blob is missing; a fresh link is left to the server that wrote it.
  for (const link of linkFiles) {
    if (gone.has(link.digest) || (link.changed <= cutoff && !(await storage.blobs.has(link.digest)))) await rm(link.path, { force: true });
  }
  return { removed, kept, young, bytesFreed };
}
