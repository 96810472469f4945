// `serve --gc`: removes the blobs of the embedded registry that nothing stored needs.
// Marked (kept): every manifest a repository stores (`_manifests`, so untagged manifests and
// referrers stay), every manifest a tag points to, and everything they reach: an index's
// children, an image's config and layers, an artifact's blobs. Link files are not roots: a
// client may delete a blob link of a manifest it still tags, and an upload no manifest uses
// is garbage. Run it while nothing pushes (like distribution's garbage-collect).
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, type Digest } from '../digest/digest.js';
import { isPolyarchError, PolyarchError } from '../errors/polyarch-error.js';
import { isTempName } from '../internal/temp-path.js';
import type { RegistryStorage } from './storage.js';

export interface RegistryGarbageResult {
  readonly removed: number;
  readonly kept: number;
  readonly bytesFreed: number;
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

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
}

/** Every digest something stored needs. Refuses (throws) when a manifest it must read cannot be read. */
async function markReachable(storage: RegistryStorage): Promise<Set<Digest>> {
  const reachable = new Set<Digest>();
  const pending: Digest[] = [];
  const keepManifest = (digest: Digest): void => {
    if (reachable.has(digest)) return;
    reachable.add(digest);
    pending.push(digest);
  };
  for (const repo of await storage.repositories()) {
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
    const digest = pending.pop()!;
    let bytes: Buffer;
    try {
      bytes = await storage.blobs.readSmall(digest, `manifest ${digest}`);
    } catch (error) {
      // Gone already: it reaches nothing. Unreadable or corrupt: what it needs is unknown, so stop.
      if (isPolyarchError(error) && error.code === 'MANIFEST_UNKNOWN') continue;
      throw new PolyarchError('MANIFEST_INVALID', `cannot collect garbage: manifest ${digest} cannot be read (${(error as Error).message}); nothing was removed`, { cause: error });
    }
    let body: unknown;
    try {
      body = JSON.parse(bytes.toString('utf8'));
    } catch {
      continue; // not JSON: it references nothing
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) continue;
    const manifest = body as Record<string, unknown>;
    for (const child of Array.isArray(manifest.manifests) ? manifest.manifests : []) {
      const d = digestIn(child);
      if (d) keepManifest(d);
    }
    const leaves = [manifest.config, ...(Array.isArray(manifest.layers) ? manifest.layers : []), ...(Array.isArray(manifest.blobs) ? manifest.blobs : [])];
    for (const leaf of leaves) {
      const d = digestIn(leaf);
      if (d) reachable.add(d);
    }
  }
  return reachable;
}

export async function collectRegistryGarbage(storage: RegistryStorage): Promise<RegistryGarbageResult> {
  const reachable = await markReachable(storage);
  let removed = 0;
  let kept = 0;
  let bytesFreed = 0;
  const blobs = join(storage.root, 'blobs');
  for (const algorithm of await names(blobs)) {
    for (const encoded of await names(join(blobs, algorithm))) {
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
      await rm(path, { force: true });
      removed++;
      bytesFreed += info.size;
    }
  }
  // Links to removed blobs go too: a later push of the same bytes elsewhere must not revive them here.
  for (const repo of await storage.repositories()) {
    const dir = join(storage.root, 'repositories', ...repo.split('/'), '_blobs');
    for (const name of await names(dir)) {
      const digest = digestOfEncoded(name);
      if (digest && !(await storage.blobs.has(digest))) await rm(join(dir, name), { force: true });
    }
  }
  return { removed, kept, bytesFreed };
}
