// What the build cache and the bundle cache share when they prune: the blob files as they lie on
// disk (links and FIFOs included, to be unlinked themselves), what a manifest reaches, and the
// removal of every blob no kept entry reaches. Both caches are OCI layouts that hostile images
// filled, so nothing here follows a link, waits on a FIFO or trusts a manifest it has not hashed.
import { constants } from 'node:fs';
import { lstat, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../digest/digest.js';
import { verifyBytes } from '../digest/verify-stream.js';
import { cleanDescriptor, type ImageIndex } from '../image/index.js';
import { MAX_MANIFEST_SIZE, parseJsonObject } from '../image/raw-manifest.js';
import { referencedDigests } from '../image/referenced-digests.js';
import { isTempName } from '../internal/temp-path.js';
import { writeFileAtomic } from './atomic-write.js';

export interface CacheBlob {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

const isRealDir = (path: string) => lstat(path).then((info) => info.isDirectory(), () => false);

/**
 * Every entry of blobs/<alg>/ in real directories, by digest: listed with lstat, so a symlink or a
 * FIFO planted there is an entry to unlink (itself, never what it points at) and a directory is
 * left alone (nothing is ever removed recursively).
 */
export async function listCacheBlobs(dir: string): Promise<Map<string, CacheBlob>> {
  const blobs = new Map<string, CacheBlob>();
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

/** The digests a manifest reaches, itself included; a missing or unreadable manifest reaches only itself. */
export async function reachedFrom(digest: string, blobs: ReadonlyMap<string, CacheBlob>, memo: Map<string, Set<string>>): Promise<Set<string>> {
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

/** Rewrites index.json (atomically) with only the entries `keep` accepts, the rest of the document as it was. */
export async function rewriteIndexKeeping(dir: string, index: ImageIndex, keep: (position: number) => boolean): Promise<void> {
  const kept = index.manifests.filter((_, i) => keep(i));
  const body = parseJsonObject(index.raw.bytes, 'index.json');
  await writeFileAtomic(join(dir, 'index.json'), Buffer.from(JSON.stringify({ ...body, manifests: kept.map(cleanDescriptor) })));
}

export interface UnreachableRemoval {
  readonly removed: { readonly type: 'blob'; readonly name: string; readonly size: number }[];
  readonly bytesFreed: number;
  readonly bytesKept: number;
}

/** Unlinks every blob outside `reachable`; a symlink planted in the cache is removed itself, its target never touched. */
export async function removeUnreachableBlobs(blobs: ReadonlyMap<string, CacheBlob>, reachable: ReadonlySet<string>, signal?: AbortSignal): Promise<UnreachableRemoval> {
  const removed: UnreachableRemoval['removed'] = [];
  let bytesFreed = 0;
  let bytesKept = 0;
  for (const [digest, blob] of blobs) {
    signal?.throwIfAborted();
    if (reachable.has(digest)) {
      bytesKept += blob.size;
      continue;
    }
    await unlink(blob.path).catch(() => undefined);
    bytesFreed += blob.size;
    removed.push({ type: 'blob', name: digest, size: blob.size });
  }
  return { removed, bytesFreed, bytesKept };
}
