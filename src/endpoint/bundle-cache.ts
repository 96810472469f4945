// The bundle's blob cache, as ops/ sees it: an OCI layout (content-addressed, every blob verified
// before it gets its name, so an interrupted run leaves only whole blobs to reuse) that images are
// copied into like any endpoint, and from which archives are then written without a staging copy.
// A bundle run holds a lease on the cache; `pruneBundleCache` removes entries (least recently
// used first, or all) and the blobs no remaining entry reaches, only while no lease is live.
import { lstat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { algorithmOf, encodedPart, type Digest } from '../digest/digest.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { removeOrphanTemps } from '../store/gc.js';
import { listCacheBlobs, reachedFrom, removeUnreachableBlobs, rewriteIndexKeeping } from '../store/cache-blobs.js';
import { takeLease, whenLeaseFree } from '../store/leases.js';
import { readIndexJson, tagOf } from '../store/oci-layout.js';
import type { Endpoint, IoOptions } from './endpoint.js';
import { BlobStore } from '../store/blob-store.js';
import { openLayout } from '../store/oci-layout.js';
import { readTarMember, recordChecksums, writeImagesArchive, type ArchiveFile, type ArchiveFormat, type ArchiveImage } from '../store/bundle-archive.js';
import { makeDirectories } from '../internal/make-directories.js';
import { noUserDirectory, userDirectory } from '../internal/home.js';

export type { ArchiveFile, ArchiveFormat, ArchiveImage };

export interface BundleCache {
  readonly dir: string;
  /** The cache as an endpoint: copy images into it, read manifests back by digest or by the name they were resolved from. */
  readonly endpoint: Endpoint;
  /** Writes one archive of `images` from the cached blobs, atomically; returns its sha256. */
  writeArchive(target: string, images: readonly ArchiveImage[], options: IoOptions & { readonly format: ArchiveFormat; readonly extra?: readonly ArchiveFile[] }): Promise<Digest>;
  /** Records that the image whose top manifest is `digest` was used now (prune keeps the most recently used). */
  touch(digest: Digest): Promise<void>;
  /** Ends this run's lease on the cache (a prune waits for every live lease). */
  release(): Promise<void>;
}

/** `$XDG_CACHE_HOME/polyarch/bundle-blobs`, or `~/.cache/polyarch/bundle-blobs`; USAGE when there is neither (no home, no variable). */
export function defaultBundleCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = userDirectory(env, 'XDG_CACHE_HOME', '.cache');
  if (base === undefined) throw new PolyarchError('USAGE', `no place for the bundle blob cache: ${noUserDirectory('XDG_CACHE_HOME')} (or give a cache directory)`);
  return join(base, 'polyarch', 'bundle-blobs');
}

/** Opens (creating if needed) the cache and takes a lease on it until `release`. */
export async function openBundleCache(dir: string): Promise<BundleCache> {
  const endpoint = await openLayout(dir, { create: true });
  const blobs = new BlobStore(dir, `bundle cache ${dir}`);
  await makeDirectories(dir);
  const release = await takeLease(dir);
  return {
    dir,
    endpoint,
    // A blob this run fetched was verified on its way in: the archive reads it without hashing it again.
    writeArchive: (target, images, options) => writeImagesArchive(target, blobs, images, { ...options, hashedOnWrite: (digest) => endpoint.wroteAndVerified(digest) }),
    touch: async (digest) => {
      const now = new Date();
      await utimes(join(dir, 'blobs', algorithmOf(digest), encodedPart(digest)), now, now).catch(() => undefined);
    },
    release,
  };
}

export interface BundleCachePruneOptions {
  /** The bundle cache (default: defaultBundleCacheDir()). */
  readonly cacheDir?: string;
  /** Remove every entry. */
  readonly all?: boolean;
  /** Keep the most recently used entries up to this many bytes of blobs. */
  readonly keepStorage?: number;
  /** How long to wait for bundle runs using the cache to finish (default 60 s; 0: fail at once). */
  readonly waitMs?: number;
  /** Called once when the prune has to wait, with the pids of the runs it waits for. */
  readonly onWait?: (pids: readonly number[]) => void;
  readonly signal?: AbortSignal;
}

/** One thing a prune of the bundle cache removed: an entry (the name an image was bundled by), a blob, or a leftover temp. */
export interface BundleCachePrunedItem {
  readonly type: 'image' | 'blob' | 'temp';
  /** The name the image was bundled by (or its digest), a blob's digest, or a count of temps. */
  readonly name: string;
  readonly size?: number;
}

export interface BundleCachePruneResult {
  readonly cacheDir: string;
  readonly removed: readonly BundleCachePrunedItem[];
  readonly bytesFreed: number;
  /** Bytes of blobs left in the cache. */
  readonly bytesKept: number;
}

/** The prune itself; the caller holds the layout lock and has seen no live lease. */
async function pruneBundleCacheNow(dir: string, keepBytes: number | undefined, signal: AbortSignal | undefined): Promise<BundleCachePruneResult> {
  const removed: BundleCachePrunedItem[] = [];
  const hasIndex = await lstat(join(dir, 'index.json')).then(() => true, () => false);
  // An index.json that cannot be read stops the prune: without its roots every blob looks unused.
  const index = hasIndex ? await readIndexJson(dir) : undefined;
  const blobs = await listCacheBlobs(dir);
  const memo = new Map<string, Set<string>>();
  const entries: { name: string; digests: Set<string>; time: number; drop: boolean }[] = [];
  for (const d of index?.manifests ?? []) {
    entries.push({ name: tagOf(d) ?? d.digest, digests: await reachedFrom(d.digest, blobs, memo), time: blobs.get(d.digest)?.mtimeMs ?? 0, drop: keepBytes === 0 });
  }
  if (keepBytes !== undefined && keepBytes > 0) {
    // Least recently used first, until what the remaining entries reach fits.
    const counts = new Map<string, number>();
    let total = 0;
    for (const e of entries) {
      for (const d of e.digests) {
        const before = counts.get(d) ?? 0;
        counts.set(d, before + 1);
        if (before === 0) total += blobs.get(d)?.size ?? 0;
      }
    }
    for (const e of [...entries].sort((a, b) => a.time - b.time)) {
      if (total <= keepBytes) break;
      e.drop = true;
      for (const d of e.digests) {
        const after = (counts.get(d) ?? 0) - 1;
        counts.set(d, after);
        if (after === 0) total -= blobs.get(d)?.size ?? 0;
      }
    }
  }

  signal?.throwIfAborted();
  if (index && entries.some((e) => e.drop)) {
    await rewriteIndexKeeping(dir, index, (i) => !entries[i]!.drop);
  }
  for (const e of entries) if (e.drop) removed.push({ type: 'image', name: e.name });

  const reachable = new Set<string>();
  for (const e of entries) if (!e.drop) for (const d of e.digests) reachable.add(d);
  const blobsGone = await removeUnreachableBlobs(blobs, reachable, signal);
  removed.push(...blobsGone.removed);
  // Leftovers of runs that were killed mid-blob (a live writer's temps are left alone).
  const temps = await removeOrphanTemps(dir, { maxDepth: 2 });
  if (temps > 0) removed.push({ type: 'temp', name: `${temps} leftover temp file${temps === 1 ? '' : 's'}` });
  return { cacheDir: dir, removed, bytesFreed: blobsGone.bytesFreed, bytesKept: blobsGone.bytesKept };
}

/**
 * `polyarch prune --bundle-cache`: removes the bundle cache's blobs that no entry reaches and its
 * crash leftovers; with `keepStorage`, also the least recently bundled images beyond that size;
 * with `all`, every entry. Waits for bundle runs using the cache to finish first (bounded by `waitMs`).
 *
 * {@includeCode ../../examples/api/pruneBundleCache.ts#example}
 */
export async function pruneBundleCache(options: BundleCachePruneOptions = {}): Promise<BundleCachePruneResult> {
  const dir = options.cacheDir ?? defaultBundleCacheDir();
  if (options.keepStorage !== undefined && (!Number.isSafeInteger(options.keepStorage) || options.keepStorage < 0)) {
    throw new PolyarchError('USAGE', `keep-storage ${options.keepStorage} is not a whole number of bytes`);
  }
  if (!(await lstat(dir).then((info) => info.isDirectory(), () => false))) return { cacheDir: dir, removed: [], bytesFreed: 0, bytesKept: 0 };
  const keepBytes = options.all ? 0 : options.keepStorage;
  return whenLeaseFree(
    dir,
    {
      ...(options.waitMs !== undefined ? { waitMs: options.waitMs } : {}),
      ...(options.onWait ? { onWait: options.onWait } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      busy: (pids) => new PolyarchError('BUSY', `the bundle cache ${dir} is in use by ${pids.length} bundle run(s) (pid ${pids.join(', ')}); prune again when they have finished`),
    },
    () => pruneBundleCacheNow(dir, keepBytes, options.signal),
  );
}

/** A named member of an archive (a bundle's own manifest), or undefined when it has none. */
export function readArchiveMember(file: string, name: string, maxBytes: number): Promise<Buffer | undefined> {
  return readTarMember(file, name, maxBytes);
}

/** Adds or replaces the lines for `sums` in the SHA256SUMS of their directory; returns its path. */
export function recordArchiveChecksums(dir: string, sums: ReadonlyMap<string, Digest>): Promise<string> {
  return recordChecksums(dir, sums);
}
