// The bundle's blob cache, as ops/ sees it: an OCI layout (content-addressed, every blob verified
// before it gets its name, so an interrupted run leaves only whole blobs to reuse) that images are
// copied into like any endpoint, and from which archives are then written without a staging copy.
// A bundle run holds a lease on the cache; `pruneBundleCache` removes entries (least recently
// used first, or all) and the blobs no remaining entry reaches, only while no lease is live.
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, unlink, utimes } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { algorithmOf, encodedPart, type Digest } from '../digest/digest.js';
import { verifyBytes } from '../digest/verify-stream.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { cleanDescriptor } from '../image/index.js';
import { MAX_MANIFEST_SIZE, parseJsonObject } from '../image/raw-manifest.js';
import { referencedDigests } from '../image/referenced-digests.js';
import { isTempName } from '../internal/temp-path.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { removeOrphanTemps } from '../store/gc.js';
import { withLayoutLock } from '../store/layout-lock.js';
import { liveLeaseHolders, takeLease } from '../store/leases.js';
import { readIndexJson, tagOf } from '../store/oci-layout.js';
import type { Endpoint, IoOptions } from './endpoint.js';
import { BlobStore } from '../store/blob-store.js';
import { openLayout } from '../store/oci-layout.js';
import { readTarMember, recordChecksums, writeImagesArchive, type ArchiveFile, type ArchiveFormat, type ArchiveImage } from '../store/bundle-archive.js';

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

/** `$XDG_CACHE_HOME/polyarch/bundle-blobs`, or `~/.cache/polyarch/bundle-blobs`. */
export function defaultBundleCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache'), 'polyarch', 'bundle-blobs');
}

/** Opens (creating if needed) the cache and takes a lease on it until `release`. */
export async function openBundleCache(dir: string): Promise<BundleCache> {
  const endpoint = await openLayout(dir, { create: true });
  const blobs = new BlobStore(dir, `bundle cache ${dir}`);
  await mkdir(dir, { recursive: true });
  const release = await takeLease(dir);
  return {
    dir,
    endpoint,
    writeArchive: (target, images, options) => writeImagesArchive(target, blobs, images, options),
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

interface CachedBlob {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/**
 * Every entry of blobs/<alg>/ in real directories, by digest: listed with lstat, so a symlink or a
 * FIFO planted there is an entry to unlink (itself, never what it points at) and a directory is
 * left alone (nothing is ever removed recursively).
 */
async function listCachedBlobs(dir: string): Promise<Map<string, CachedBlob>> {
  const blobs = new Map<string, CachedBlob>();
  const isRealDir = (path: string) => lstat(path).then((info) => info.isDirectory(), () => false);
  const root = join(dir, 'blobs');
  if (!(await isRealDir(root))) return blobs;
  for (const algorithm of await readdir(root)) {
    if (!(await isRealDir(join(root, algorithm)))) continue;
    for (const encoded of await readdir(join(root, algorithm))) {
      if (isTempName(encoded)) continue;
      const path = join(root, algorithm, encoded);
      const info = await lstat(path).catch(() => undefined);
      if (info && !info.isDirectory()) blobs.set(`${algorithm}:${encoded}`, { path, size: info.size, mtimeMs: info.mtimeMs });
    }
  }
  return blobs;
}

/** A manifest blob's JSON, or undefined when it is not a regular file of manifest size whose bytes match its digest. */
async function readManifestBlob(path: string, digest: string): Promise<Record<string, unknown> | undefined> {
  // No symlink followed, no FIFO waited on: O_NOFOLLOW | O_NONBLOCK, then a regular-file check on the handle.
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
  if (!handle) return undefined;
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > MAX_MANIFEST_SIZE) return undefined;
    const bytes = await handle.readFile();
    verifyBytes(bytes, { digest: digest as Digest });
    return parseJsonObject(bytes, digest);
  } catch {
    return undefined; // a layer, a config, or a damaged blob: a leaf
  } finally {
    await handle.close();
  }
}

/** The digests a manifest reaches, itself included. */
async function reachedFrom(digest: string, blobs: ReadonlyMap<string, CachedBlob>, memo: Map<string, Set<string>>): Promise<Set<string>> {
  const known = memo.get(digest);
  if (known) return known;
  const found = new Set<string>([digest]);
  memo.set(digest, found);
  const blob = blobs.get(digest);
  const body = blob ? await readManifestBlob(blob.path, digest) : undefined;
  if (!body) return found;
  const { children, leaves } = referencedDigests(body);
  for (const child of children) for (const x of await reachedFrom(child, blobs, memo)) found.add(x);
  for (const leaf of leaves) found.add(leaf);
  return found;
}

/** The prune itself; the caller holds the layout lock and has seen no live lease. */
async function pruneBundleCacheNow(dir: string, keepBytes: number | undefined, signal: AbortSignal | undefined): Promise<BundleCachePruneResult> {
  const removed: BundleCachePrunedItem[] = [];
  const hasIndex = await lstat(join(dir, 'index.json')).then(() => true, () => false);
  // An index.json that cannot be read stops the prune: without its roots every blob looks unused.
  const index = hasIndex ? await readIndexJson(dir) : undefined;
  const blobs = await listCachedBlobs(dir);
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
    const kept = index.manifests.filter((_, i) => !entries[i]!.drop);
    const body = parseJsonObject(index.raw.bytes, 'index.json');
    await writeFileAtomic(join(dir, 'index.json'), Buffer.from(JSON.stringify({ ...body, manifests: kept.map(cleanDescriptor) })));
  }
  for (const e of entries) if (e.drop) removed.push({ type: 'image', name: e.name });

  const reachable = new Set<string>();
  for (const e of entries) if (!e.drop) for (const d of e.digests) reachable.add(d);
  let bytesFreed = 0;
  let bytesKept = 0;
  for (const [digest, blob] of blobs) {
    signal?.throwIfAborted();
    if (reachable.has(digest)) {
      bytesKept += blob.size;
      continue;
    }
    // unlink: a symlink planted in the cache is removed itself, its target never touched.
    await unlink(blob.path).catch(() => undefined);
    bytesFreed += blob.size;
    removed.push({ type: 'blob', name: digest, size: blob.size });
  }
  // Leftovers of runs that were killed mid-blob (a live writer's temps are left alone).
  const temps = await removeOrphanTemps(dir, { maxDepth: 2 });
  if (temps > 0) removed.push({ type: 'temp', name: `${temps} leftover temp file${temps === 1 ? '' : 's'}` });
  return { cacheDir: dir, removed, bytesFreed, bytesKept };
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
  const deadline = Date.now() + (options.waitMs ?? 60_000);
  let told = false;
  for (;;) {
    options.signal?.throwIfAborted();
    const outcome = await withLayoutLock(dir, async () => {
      const busy = await liveLeaseHolders(dir);
      return busy.length > 0 ? { busy } : { done: await pruneBundleCacheNow(dir, keepBytes, options.signal) };
    });
    if ('done' in outcome) return outcome.done;
    if (Date.now() >= deadline) {
      throw new PolyarchError('LAYOUT_INVALID', `the bundle cache ${dir} is in use by ${outcome.busy.length} bundle run(s) (pid ${outcome.busy.join(', ')}); prune again when they have finished`);
    }
    if (!told) options.onWait?.(outcome.busy);
    told = true;
    await sleep(200, undefined, options.signal ? { signal: options.signal } : {});
  }
}

/** A named member of an archive (a bundle's own manifest), or undefined when it has none. */
export function readArchiveMember(file: string, name: string, maxBytes: number): Promise<Buffer | undefined> {
  return readTarMember(file, name, maxBytes);
}

/** Adds or replaces the lines for `sums` in the SHA256SUMS of their directory; returns its path. */
export function recordArchiveChecksums(dir: string, sums: ReadonlyMap<string, Digest>): Promise<string> {
  return recordChecksums(dir, sums);
}
