// How names are read from index.json entries, shared by the layout and both archive readers.
// polyarch, skopeo and buildx put the tag in `org.opencontainers.image.ref.name`; buildx and
// docker ≥25 also write the full name in `io.containerd.image.name`, and containerd-only
// writers put nothing else, so a tag is derived from that name when ref.name is absent.
// https://github.com/opencontainers/image-spec/blob/v1.1.0/annotations.md
import { isDigest } from '../digest/digest.js';
import type { Descriptor } from '../image/descriptor.js';
import { formatReference, parseReference, withDefaultTag } from '../reference/reference.js';

/** A layout's index.json is read up to this size: 64 MiB is some 200,000 entries. */
export const MAX_INDEX_JSON_BYTES = 64 << 20;

export const REF_NAME = 'org.opencontainers.image.ref.name';
export const CONTAINERD_NAME = 'io.containerd.image.name';

/** `docker.io/library/foo:1` for any spelling of that name; undefined when it does not parse. */
export function normalizedName(text: string): string | undefined {
  try {
    return formatReference(withDefaultTag(parseReference(text)));
  } catch {
    return undefined;
  }
}

function tagOfName(name: string): string | undefined {
  try {
    return withDefaultTag(parseReference(name)).tag;
  } catch {
    return undefined;
  }
}

/** The tag an index.json entry carries, if any. */
export function tagOf(descriptor: Descriptor): string | undefined {
  const ref = descriptor.annotations?.[REF_NAME];
  if (ref !== undefined && ref !== '') return ref;
  const name = descriptor.annotations?.[CONTAINERD_NAME];
  return name ? tagOfName(name) : undefined;
}

/** Whether an entry carries any name at all (ref.name or a containerd name). */
export function isNamed(descriptor: Descriptor): boolean {
  return tagOf(descriptor) !== undefined;
}

/**
 * The entry a tag, a full name (`team/app:1`) or a digest names. The last entry with a tag wins,
 * as a later write replaces an earlier one. A single entry answers for `latest` or an empty
 * reference (skopeo reads `oci:DIR` the same way).
 */
export function findEntry(manifests: readonly Descriptor[], reference: string): Descriptor | undefined {
  if (isDigest(reference)) return manifests.find((d) => d.digest === reference);
  const last = (match: (d: Descriptor) => boolean): Descriptor | undefined => manifests.filter(match).at(-1);
  const found =
    last((d) => d.annotations?.[REF_NAME] === reference) ??
    last((d) => tagOf(d) === reference) ??
    (reference.includes('/') || reference.includes(':') ? fullNameMatch(manifests, reference) : undefined);
  if (found) return found;
  return (reference === 'latest' || reference === '') && manifests.length === 1 ? manifests[0] : undefined;
}

function fullNameMatch(manifests: readonly Descriptor[], reference: string): Descriptor | undefined {
  const wanted = normalizedName(reference);
  if (wanted === undefined) return undefined;
  return manifests.filter((d) => {
    const name = d.annotations?.[CONTAINERD_NAME] ?? d.annotations?.[REF_NAME];
    return name !== undefined && normalizedName(name) === wanted;
  }).at(-1);
}

/** Every tag in the entries, unique and sorted. */
export function tagsOf(manifests: readonly Descriptor[]): string[] {
  return [...new Set(manifests.map(tagOf).filter((t): t is string => t !== undefined))].sort();
}
