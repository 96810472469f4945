// What a manifest-shaped JSON object points at, read leniently: the caches walk blobs that may be
// damaged or hostile, so anything that is not a well-formed digest is simply not a reference.
import { isDigest } from '../digest/digest.js';

export interface ReferencedDigests {
  /** An index's entries: manifests that point further. */
  readonly children: readonly string[];
  /** A manifest's config, layers and (artifact) blobs: leaves. */
  readonly leaves: readonly string[];
}

export function referencedDigests(body: Record<string, unknown>): ReferencedDigests {
  const digestIn = (value: unknown): string | undefined => {
    const d = (value as { digest?: unknown } | null)?.digest;
    return typeof d === 'string' && isDigest(d) ? d : undefined;
  };
  const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
  const digests = (values: unknown[]) => values.map(digestIn).filter((d): d is string => d !== undefined);
  return { children: digests(list(body.manifests)), leaves: digests([body.config, ...list(body.layers), ...list(body.blobs)]) };
}
