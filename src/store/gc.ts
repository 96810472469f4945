// Clearing up after crashes (temp files, staging directories) and removing unreachable blobs.
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { algorithmOf, encodedPart, isDigest, type Digest } from '../digest/digest.js';
import { verifyBytes } from '../digest/verify-stream.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { MAX_MANIFEST_SIZE } from '../image/raw-manifest.js';
import { isOrphanTemp, isTempName } from '../internal/temp-path.js';
import { withLayoutLock } from './layout-lock.js';
import { MAX_INDEX_JSON_BYTES } from './index-entries.js';
import { RegularFileError, readRegularBytes } from '../internal/regular-file.js';

/**
 * Removes temp files a crashed writer left under `dir`; a live writer's temp files are left alone.
 * `maxDepth` bounds the walk (0: `dir` itself), so a layout at `oci:.` does not crawl a whole project.
 */
export async function removeOrphanTemps(dir: string, options: { readonly maxDepth?: number } = {}): Promise<number> {
  const maxDepth = options.maxDepth ?? Number.POSITIVE_INFINITY;
  let removed = 0;
  const visit = async (path: string, depth: number): Promise<void> => {
    const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const child = join(path, entry.name);
      if (entry.isDirectory() && depth < maxDepth) await visit(child, depth + 1);
      else if (entry.isFile() && isOrphanTemp(entry.name)) {
        await rm(child, { force: true });
        removed++;
      }
    }
  };
  await visit(dir, 0);
  return removed;
}

/**
 * Removes, from one directory only (never recursing into a user's folder), the staging
 * directories and temp archives that a crashed archive writer left beside its target file.
 */
export async function removeOrphanStaging(dir: string): Promise<number> {
  let removed = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!isOrphanTemp(entry.name)) continue;
    await rm(join(dir, entry.name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

export interface GarbageOptions {
  /** Keep unreachable blobs younger than this: a concurrent writer puts blobs before it tags them. */
  readonly keepNewerThanMs?: number;
  readonly signal?: AbortSignal;
}

export interface GarbageResult {
  readonly removed: number;
  readonly kept: number;
  readonly bytesFreed: number;
}

/**
 * Deletes the blobs of a layout that nothing in index.json reaches (through indexes, manifests,
 * configs and layers). Runs under the index.json lock so the roots cannot change meanwhile.
 * Temp files are left to removeOrphanTemps.
 */
export async function collectGarbage(dir: string, options: GarbageOptions = {}): Promise<GarbageResult> {
  return withLayoutLock(dir, async () => {
    const reachable = await reachableDigests(dir, options.signal);
    const cutoff = Date.now() - (options.keepNewerThanMs ?? 0);
    let removed = 0;
    let kept = 0;
    let bytesFreed = 0;
    const blobs = join(dir, 'blobs');
    // Only the layout's own directories: one that is a link would have this delete wherever it points.
    if ((await lstat(blobs).catch(() => undefined))?.isDirectory() !== true) return { removed, kept, bytesFreed };
    const algorithms = (await readdir(blobs, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => e.name);
    for (const algorithm of algorithms) {
      for (const encoded of await readdir(join(blobs, algorithm)).catch(() => [] as string[])) {
        options.signal?.throwIfAborted();
        if (isTempName(encoded)) continue;
        const path = join(blobs, algorithm, encoded);
        if (reachable.has(`${algorithm}:${encoded}`)) {
          kept++;
          continue;
        }
        const info = await lstat(path).catch(() => undefined);
        if (!info?.isFile() || info.mtimeMs > cutoff) {
          kept++;
          continue;
        }
        await rm(path, { force: true });
        removed++;
        bytesFreed += info.size;
      }
    }
    return { removed, kept, bytesFreed };
  });
}

/** Every digest reachable from index.json. Any JSON manifest shape is walked, so artifacts keep their blobs. */
async function reachableDigests(dir: string, signal: AbortSignal | undefined): Promise<Set<string>> {
  const reachable = new Set<string>();
  const pending: Digest[] = [];
  const digestIn = (value: unknown): Digest | undefined => {
    const digest = (value as { digest?: unknown } | null)?.digest;
    return typeof digest === 'string' && isDigest(digest) ? digest : undefined;
  };
  const walk = (body: Record<string, unknown>): void => {
    for (const entry of Array.isArray(body.manifests) ? body.manifests : []) {
      const digest = digestIn(entry);
      if (digest && !reachable.has(digest)) {
        reachable.add(digest);
        pending.push(digest);
      }
    }
    const leaves = [body.config, ...(Array.isArray(body.layers) ? body.layers : []), ...(Array.isArray(body.blobs) ? body.blobs : [])];
    for (const leaf of leaves) {
      const digest = digestIn(leaf);
      if (digest) reachable.add(digest);
    }
  };
  const index = await readJson(join(dir, 'index.json'));
  // Without roots everything would look unreachable: refuse rather than empty the layout.
  if (index === undefined) throw new PolyarchError('LAYOUT_INVALID', `${dir} has no index.json: refusing to collect garbage`);
  walk(index);
  while (pending.length > 0) {
    signal?.throwIfAborted();
    const digest = pending.pop() as Digest;
    const body = await readJson(join(dir, 'blobs', algorithmOf(digest), encodedPart(digest)), digest);
    if (body) walk(body); // a missing manifest is allowed (image-layout.md); its blobs stay unreachable
  }
  return reachable;
}

/**
 * A small JSON object, or undefined when the file is absent. A file that is present but not a
 * manifest we can read stops the collection: guessing would delete blobs it may reference.
 */
async function readJson(path: string, digest?: Digest): Promise<Record<string, unknown> | undefined> {
  const refuse = (why: string, cause?: unknown): PolyarchError =>
    new PolyarchError('LAYOUT_INVALID', `${path}: ${why}; refusing to collect garbage`, cause === undefined ? {} : { cause });
  let bytes: Buffer;
  try {
    // No link followed, no pipe waited on, no more read than a manifest (or index.json) may hold.
    bytes = await readRegularBytes(path, digest ? MAX_MANIFEST_SIZE : MAX_INDEX_JSON_BYTES, { followLinks: false });
  } catch (error) {
    if (error instanceof RegularFileError && error.problem === 'missing') return undefined;
    throw refuse(`not a manifest (${error instanceof Error ? error.message : String(error)})`, error);
  }
  if (digest) verifyBytes(bytes, { digest, what: path });
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw refuse('not valid JSON', error);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refuse('not a JSON object');
  return value as Record<string, unknown>;
}
