// Finds what refers to a set of manifests (signatures, SBOMs, attestations pushed with a
// `subject`), then what refers to those, so a copy can take them along (regctl's --referrers,
// `oras cp -r`). Every listed referrer is fetched by digest and must name the manifest it was
// listed for as its subject; anything else a source lists is left behind.
import type { Digest } from '../digest/digest.js';
import type { Endpoint, IoOptions } from '../endpoint/endpoint.js';
import type { RawManifest } from '../image/raw-manifest.js';
import { isPolyarchError, PolyarchError } from '../errors/polyarch-error.js';
import { interruptible } from '../errors/interrupted.js';
import { parseImageIndex } from '../image/index.js';
import { subjectOf } from '../image/referrer.js';
import { isIndex, isManifest } from '../mediatype/mediatype.js';

/** Referrers (and manifests below index referrers) one copy takes at most. */
export const MAX_REFERRERS = 1000;
/** Levels of referrers of referrers (a signature of a signature is level 2). */
export const MAX_REFERRER_DEPTH = 8;

export interface ReferrerLimits {
  /** Referrers (and manifests below index referrers) taken at most (default MAX_REFERRERS); more is LIMIT_EXCEEDED. */
  readonly maxReferrers?: number;
  /** Levels of referrers of referrers (default MAX_REFERRER_DEPTH); deeper is LIMIT_EXCEEDED. */
  readonly maxDepth?: number;
}

/** What {@link findReferrers} takes. */
export interface FindReferrersOptions extends ReferrerLimits, IoOptions {
  /** Stops the walk: the verb rejects with an `INTERRUPTED` PolyarchError. */
  readonly signal?: AbortSignal;
  /** Where to look; the caller opens and closes it. */
  readonly source: Endpoint;
  /** The manifests whose referrers are wanted (an index and its children, say). */
  readonly subjects: readonly RawManifest[];
}

export interface FoundReferrers {
  /** In the order to store them: subjects before their referrers, an index's children before it. */
  readonly manifests: readonly RawManifest[];
  /** Referrers found (the children of index referrers not counted). */
  readonly count: number;
  /** Listed entries left behind: their subject is another manifest, or they are no manifest. */
  readonly ignored: number;
}

function isAbsent(error: unknown): boolean {
  return isPolyarchError(error) && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'NOT_FOUND');
}

/** The subject's digest, or undefined when the manifest has none or an unreadable one. */
function subjectDigest(raw: RawManifest): Digest | undefined {
  try {
    return subjectOf(raw)?.digest;
  } catch {
    return undefined;
  }
}

/**
 * Finds what refers to a set of manifests (signatures, SBOMs, attestations), and what refers to
 * those. Walks breadth first from `subjects`, with a visited set (a manifest is taken once,
 * whatever lists it again, so cycles end) and bounds on count and depth (LIMIT_EXCEEDED).
 *
 * {@includeCode ../../examples/api/findReferrers.ts#example}
 */
export async function findReferrers(options: FindReferrersOptions): Promise<FoundReferrers> {
  return interruptible(options.signal, () => walkReferrers(options));
}

async function walkReferrers(options: FindReferrersOptions): Promise<FoundReferrers> {
  const { source, subjects } = options;
  const maxReferrers = options.maxReferrers ?? MAX_REFERRERS;
  const maxDepth = options.maxDepth ?? MAX_REFERRER_DEPTH;
  const io = options.signal ? { signal: options.signal } : {};
  const manifests: RawManifest[] = [];
  let count = 0;
  let ignored = 0;
  if (!source.listReferrers) return { manifests, count, ignored };
  const visited = new Set<string>(subjects.map((s) => s.digest));
  const queue = subjects.map((s) => ({ digest: s.digest, depth: 0 }));
  const take = (raw: RawManifest): void => {
    visited.add(raw.digest);
    manifests.push(raw);
    if (manifests.length > maxReferrers) throw new PolyarchError('LIMIT_EXCEEDED', `${source.description}: more than ${maxReferrers} referrers to copy`);
  };

  for (let i = 0; i < queue.length; i++) {
    const { digest, depth } = queue[i] as { digest: Digest; depth: number };
    const listed = await source.listReferrers(digest, { ...io, limit: maxReferrers });
    for (const descriptor of listed) {
      if (visited.has(descriptor.digest)) continue;
      let raw: RawManifest;
      try {
        raw = await source.getManifest(descriptor.digest, io);
      } catch (error) {
        if (!isAbsent(error)) throw error;
        ignored++; // a stale fallback-tag entry whose manifest was deleted
        continue;
      }
      if (!isManifest(raw.mediaType) || subjectDigest(raw) !== digest) {
        ignored++;
        continue;
      }
      if (depth + 1 > maxDepth) throw new PolyarchError('LIMIT_EXCEEDED', `${source.description}: referrers nest deeper than ${maxDepth} levels below ${digest}`);
      count++;
      const below = isIndex(raw.mediaType) ? await childrenOf(source, raw, visited, maxReferrers, io) : [];
      for (const child of below) take(child);
      take(raw);
      for (const m of [...below, raw]) queue.push({ digest: m.digest, depth: depth + 1 });
    }
  }
  return { manifests, count, ignored };
}

/** The manifests below an index referrer not taken yet, deepest first. */
async function childrenOf(source: Endpoint, index: RawManifest, visited: ReadonlySet<string>, max: number, io: IoOptions): Promise<RawManifest[]> {
  const found: RawManifest[] = [];
  const seen = new Set<string>();
  const walk = async (raw: RawManifest): Promise<void> => {
    for (const entry of parseImageIndex(raw).manifests) {
      if (!isManifest(entry.mediaType) || visited.has(entry.digest) || seen.has(entry.digest)) continue;
      seen.add(entry.digest);
      if (seen.size > max) throw new PolyarchError('LIMIT_EXCEEDED', `${source.description}: index referrer ${index.digest} has more than ${max} manifests below it`);
      const child = await source.getManifest(entry.digest, io);
      if (isIndex(child.mediaType)) await walk(child);
      found.push(child);
    }
  };
  await walk(index);
  return found;
}
