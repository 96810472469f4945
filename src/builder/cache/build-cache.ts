// The build cache (an OCI layout): who is using it, what a build leaves in it, and pruning.
//
// Roots that keep blobs alive: index.json entries (base images, untagged; a build's result, tagged
// `build-PID-MS` from the end of the build until its export) and the layer-cache keys (one file per
// COPY/ADD content, naming its layer). A running build holds a lease file; a prune runs only while
// no live lease exists, under the layout lock that builds take to start, so it never deletes a blob
// a build is about to reuse. Deleting only ever unlinks entries found by listing real directories
// of the cache (lstat, never through a symlink): nothing outside the cache can be reached. RUN
// cache mounts (cache-mounts.ts) are removed by `all` only, the same way.
import { lstat, readFile, readdir, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { algorithmOf, encodedPart, isDigest, type Digest } from '../../digest/digest.js';
import { PolyarchError } from '../../errors/polyarch-error.js';
import { interruptible, throwIfInterrupted } from '../../errors/interrupted.js';
import { isProcessAlive } from '../../internal/process-alive.js';
import { isTempName } from '../../internal/temp-path.js';
import { removeOrphanStaging, removeOrphanTemps } from '../../store/gc.js';
import { unmountAllUnder } from '../../layer/overlay-mount.js';
import { pruneUnpacked } from '../../layer/unpacked-store.js';
import { takeLease, whenLeaseFree } from '../../store/leases.js';
import { listCacheBlobs, reachedFrom, removeUnreachableBlobs, rewriteIndexKeeping, type CacheBlob } from '../../store/cache-blobs.js';
import { readIndexJson, tagOf, updateIndexJson } from '../../store/oci-layout.js';
import { LAYER_CACHE_DIR } from './layer-cache.js';
import { removeCacheMounts } from './cache-mounts.js';
import { makeDirectories } from '../../internal/make-directories.js';
import { noUserDirectory, userDirectory } from '../../internal/home.js';

/** `$XDG_CACHE_HOME/polyarch/build`, or `~/.cache/polyarch/build`; USAGE when there is neither (no home, no variable). */
export function defaultBuildCache(env: NodeJS.ProcessEnv = process.env): string {
  const base = userDirectory(env, 'XDG_CACHE_HOME', '.cache');
  if (base === undefined) throw new PolyarchError('USAGE', `no place for the build cache: ${noUserDirectory('XDG_CACHE_HOME')}`);
  return join(base, 'polyarch', 'build');
}
const RESULT_TAG = /^build-(\d+)-\d+$/;

/** The tag a build's result carries in the cache until it has been exported. */
export function resultTag(): string {
  return `build-${process.pid}-${Date.now()}`;
}

/** Whether a result tag belongs to a process that is gone (a build killed before its export). */
function isStaleResult(tag: string | undefined): boolean {
  const owner = tag === undefined ? undefined : RESULT_TAG.exec(tag)?.[1];
  return owner !== undefined && !isProcessAlive(Number(owner));
}

function isLiveResult(tag: string | undefined): boolean {
  return tag !== undefined && RESULT_TAG.test(tag) && !isStaleResult(tag);
}

/** A directory that is really one (not a symlink to somewhere else). */
async function isRealDir(path: string): Promise<boolean> {
  return lstat(path).then((info) => info.isDirectory(), () => false);
}

/**
 * Marks the cache as in use by this build until the returned release is called; also drops the
 * result tags builds that died before their export left behind. A prune waits for every lease.
 */
export async function leaseBuildCache(dir: string): Promise<() => Promise<void>> {
  await makeDirectories(dir);
  await updateIndexJson(dir, (entries) => entries.filter((d) => !isStaleResult(tagOf(d))));
  return takeLease(dir);
}

export interface ReleaseBuildResultOptions {
  /** A build result kept in its cache (its layout and tag). */
  readonly result: { readonly layout: string; readonly tag: string };
  readonly signal?: AbortSignal;
}

/**
 * Drops a build result's tag from its cache once it is no longer wanted (exportBuild does this
 * itself); its blobs go at the next prune.
 */
export async function releaseBuildResult(options: ReleaseBuildResultOptions): Promise<void> {
  const { result } = options;
  throwIfInterrupted(options.signal);
  await updateIndexJson(result.layout, (entries) => entries.filter((d) => tagOf(d) !== result.tag));
}

/** Records that a cached manifest (a base image) was used now: prune --keep-storage drops the least recently used. */
export async function touchCachedBlob(dir: string, digest: Digest): Promise<void> {
  const now = new Date();
  await utimes(join(dir, 'blobs', algorithmOf(digest), encodedPart(digest)), now, now).catch(() => undefined);
}

/** `1GB`, `512m`, `1.5GiB`, `1048576`: bytes, with docker's binary units (go-units RAMInBytes, as buildx reads --keep-storage). */
export function parseByteSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(text.trim());
  const units = ['', 'k', 'm', 'g', 't', 'p'];
  const value = match ? Number(match[1]) * 1024 ** units.indexOf((match[2] ?? '').toLowerCase()) : Number.NaN;
  if (!Number.isSafeInteger(Math.floor(value))) {
    throw new PolyarchError('USAGE', `size ${JSON.stringify(text)} is not a size such as 512MB or 2GB`);
  }
  return Math.floor(value);
}

export interface PruneOptions {
  /** The build cache (default: defaultBuildCache()). */
  readonly cacheDir?: string;
  /** Remove every entry (a result being exported by a live process stays until its export ends). */
  readonly all?: boolean;
  /** Keep the most recently used entries up to this many bytes of blobs. */
  readonly keepStorage?: number;
  /** How long to wait for builds using the cache to finish (default 60 s; 0: fail at once). */
  readonly waitMs?: number;
  /** Called once when the prune has to wait, with the pids of the builds it waits for. */
  readonly onWait?: (pids: readonly number[]) => void;
  readonly signal?: AbortSignal;
}

/**
 * One thing a prune removed: a cache entry (a base image, a result, a cached layer, a RUN cache
 * mount), a blob, layers unpacked for overlay mounts, or a leftover temp.
 */
export interface PrunedItem {
  readonly type: 'image' | 'result' | 'layer' | 'cache-mount' | 'blob' | 'unpacked' | 'temp';
  /** A tag, a digest or a layer-cache key. */
  readonly name: string;
  readonly size?: number;
}

export interface PruneResult {
  readonly cacheDir: string;
  readonly removed: readonly PrunedItem[];
  readonly bytesFreed: number;
  /** Bytes of blobs left in the cache. */
  readonly bytesKept: number;
}

interface CacheEntry {
  readonly type: 'image' | 'result' | 'layer';
  readonly name: string;
  readonly digests: ReadonlySet<string>;
  readonly time: number;
  /** A live build's result: never dropped. */
  readonly pinned: boolean;
  drop: boolean;
}

/** The layer-cache keys, each naming one layer blob; keys that are unreadable or whose layer is gone are dropped. */
async function layerEntries(dir: string, blobs: ReadonlyMap<string, CacheBlob>): Promise<{ entries: CacheEntry[]; files: Map<string, string> }> {
  const entries: CacheEntry[] = [];
  const files = new Map<string, string>();
  const keys = join(dir, LAYER_CACHE_DIR);
  if (!(await isRealDir(keys))) return { entries, files };
  for (const name of await readdir(keys)) {
    if (isTempName(name)) continue;
    const path = join(keys, name);
    const info = await lstat(path).catch(() => undefined);
    if (!info || info.isDirectory()) continue;
    files.set(name, path);
    const text = info.isFile() && info.size < 64 * 1024 ? await readFile(path, 'utf8').catch(() => '') : '';
    let digest: unknown;
    try {
      digest = (JSON.parse(text) as { descriptor?: { digest?: unknown } }).descriptor?.digest;
    } catch {
      digest = undefined;
    }
    const valid = typeof digest === 'string' && isDigest(digest) && blobs.has(digest);
    entries.push({ type: 'layer', name, digests: new Set(valid ? [digest as string] : []), time: info.mtimeMs, pinned: false, drop: !valid });
  }
  return { entries, files };
}

/** The prune itself; the caller holds the layout lock and has seen no live lease. */
async function pruneNow(dir: string, keepBytes: number | undefined, signal: AbortSignal | undefined): Promise<PruneResult> {
  const removed: PrunedItem[] = [];
  // No build runs now: a mount below the cache is a killed build's stage root. Detached first, so
  // nothing below is deleted through it into the layers it shows.
  await unmountAllUnder(dir);
  const hasIndex = await lstat(join(dir, 'index.json')).then(() => true, () => false);
  // An index.json that cannot be read stops the prune: without its roots every blob looks unused.
  const index = hasIndex ? await readIndexJson(dir) : undefined;
  const blobs = await listCacheBlobs(dir);
  const memo = new Map<string, Set<string>>();
  const roots: CacheEntry[] = [];
  for (const d of index?.manifests ?? []) {
    const tag = tagOf(d);
    const result = tag !== undefined && RESULT_TAG.test(tag);
    roots.push({
      type: result ? 'result' : 'image',
      name: tag ?? d.digest,
      digests: await reachedFrom(d.digest, blobs, memo),
      time: blobs.get(d.digest)?.mtimeMs ?? 0,
      pinned: isLiveResult(tag),
      drop: result && isStaleResult(tag),
    });
  }
  const layers = await layerEntries(dir, blobs);
  const entries = [...roots, ...layers.entries];

  if (keepBytes !== undefined) {
    // Least recently used first, until what the remaining entries reach fits (BuildKit's keep-bytes).
    const counts = new Map<string, number>();
    let total = 0;
    const add = (digest: string, delta: number) => {
      const before = counts.get(digest) ?? 0;
      counts.set(digest, before + delta);
      const size = blobs.get(digest)?.size ?? 0;
      if (before === 0 && delta > 0) total += size;
      if (before + delta === 0 && delta < 0) total -= size;
    };
    for (const e of entries) if (!e.drop) for (const d of e.digests) add(d, 1);
    for (const e of entries.filter((x) => !x.drop && !x.pinned).sort((a, b) => a.time - b.time)) {
      if (total <= keepBytes) break;
      e.drop = true;
      for (const d of e.digests) add(d, -1);
    }
  }

  signal?.throwIfAborted();
  const dropped = entries.filter((e) => e.drop);
  const droppedRoots = new Set(roots.filter((e) => e.drop));
  if (index && droppedRoots.size > 0) {
    await rewriteIndexKeeping(dir, index, (i) => !droppedRoots.has(roots[i]!));
  }
  for (const e of dropped) {
    if (e.type === 'layer') await unlink(layers.files.get(e.name)!).catch(() => undefined);
    removed.push({ type: e.type, name: e.name });
  }

  const reachable = new Set<string>();
  for (const e of entries) if (!e.drop) for (const d of e.digests) reachable.add(d);
  const blobsGone = await removeUnreachableBlobs(blobs, reachable, signal);
  removed.push(...blobsGone.removed);
  // Unpacked layers are only a faster form of blobs: they go with their layer's blob, all with --all.
  const unpacked = await pruneUnpacked(dir, (digest) => keepBytes !== 0 && reachable.has(digest));
  if (unpacked.layers > 0) removed.push({ type: 'unpacked', name: `${unpacked.layers} unpacked layer${unpacked.layers === 1 ? '' : 's'}` });
  // RUN --mount=type=cache directories go with --all only: they are no blob's root, just kept work.
  if (keepBytes === 0) {
    const ids = await removeCacheMounts(dir);
    if (ids > 0) removed.push({ type: 'cache-mount', name: `${ids} cache mount${ids === 1 ? '' : 's'}` });
  }
  // Leftovers of builds that crashed: temp files (root, blobs/<alg>/, key folder) and scratch trees.
  const temps = unpacked.temps + (await removeOrphanStaging(dir)) + (await removeOrphanTemps(dir, { maxDepth: 2 }));
  if (temps > 0) removed.push({ type: 'temp', name: `${temps} leftover temp file${temps === 1 ? '' : 's'}` });
  return { cacheDir: dir, removed, bytesFreed: blobsGone.bytesFreed, bytesKept: blobsGone.bytesKept };
}

/**
 * `polyarch prune`: removes what no entry of the build cache needs (results of builds that died,
 * dangling layer-cache keys, unreachable blobs, crash leftovers); with `keepStorage`, also the
 * least recently used entries beyond that size; with `all`, every entry. Waits for builds using
 * the cache to finish first (bounded by `waitMs`).
 */
export async function pruneBuildCache(options: PruneOptions = {}): Promise<PruneResult> {
  return interruptible(options.signal, () => pruneCache(options));
}

async function pruneCache(options: PruneOptions): Promise<PruneResult> {
  const dir = options.cacheDir ?? defaultBuildCache();
  if (options.keepStorage !== undefined && (!Number.isSafeInteger(options.keepStorage) || options.keepStorage < 0)) {
    throw new PolyarchError('USAGE', `keep-storage ${options.keepStorage} is not a whole number of bytes`);
  }
  if (!(await isRealDir(dir))) return { cacheDir: dir, removed: [], bytesFreed: 0, bytesKept: 0 };
  const keepBytes = options.all ? 0 : options.keepStorage;
  return whenLeaseFree(
    dir,
    {
      ...(options.waitMs !== undefined ? { waitMs: options.waitMs } : {}),
      ...(options.onWait ? { onWait: options.onWait } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      busy: (pids) => new PolyarchError('BUSY', `the build cache ${dir} is in use by ${pids.length} build(s) (pid ${pids.join(', ')}); prune again when they have finished`),
    },
    () => pruneNow(dir, keepBytes, options.signal),
  );
}
