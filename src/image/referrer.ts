// What makes a manifest a referrer: its `subject`, and the descriptor a referrers list carries
// for it (artifactType, falling back to the config's media type, and its annotations).
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#listing-referrers
import { algorithmOf, encodedPart, type Digest } from '../digest/digest.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { baseMediaType, isImageManifest, isIndex, MediaType } from '../mediatype/mediatype.js';
import { descriptorOf, parseDescriptor, type Descriptor } from './descriptor.js';
import { parseJsonObject, type RawManifest } from './raw-manifest.js';

/** The tag-schema fallback for a subject: `<alg>-<encoded>`, the encoded part cut to 64 characters. */
export function referrersTag(digest: Digest): string {
  return `${algorithmOf(digest)}-${encodedPart(digest).slice(0, 64)}`;
}

/** The manifest's `subject`, or undefined when it has none (or is neither an image manifest nor an index). */
export function subjectOf(raw: RawManifest, what = `manifest ${raw.digest}`): Descriptor | undefined {
  if (!isImageManifest(raw.mediaType) && !isIndex(raw.mediaType)) return undefined;
  const body = parseJsonObject(raw.bytes, what);
  return body.subject === undefined ? undefined : parseDescriptor(body.subject, `${what} subject`);
}

/** The entry a referrers list holds for this manifest. */
export function referrerDescriptor(raw: RawManifest, what = `manifest ${raw.digest}`): Descriptor {
  const body = parseJsonObject(raw.bytes, what);
  const configType = typeof body.config === 'object' && body.config !== null ? (body.config as Record<string, unknown>).mediaType : undefined;
  const artifactType = typeof body.artifactType === 'string' ? body.artifactType : isImageManifest(raw.mediaType) && typeof configType === 'string' ? configType : undefined;
  const annotations =
    typeof body.annotations === 'object' && body.annotations !== null && !Array.isArray(body.annotations)
      ? Object.fromEntries(Object.entries(body.annotations).filter((e): e is [string, string] => typeof e[1] === 'string'))
      : undefined;
  return descriptorOf(raw, { ...(artifactType !== undefined ? { artifactType } : {}), ...(annotations ? { annotations } : {}) });
}

/** The entries of a referrers list (an OCI image index), checked to be one. */
export function referrersListEntries(raw: RawManifest, what: string): Descriptor[] {
  if (baseMediaType(raw.mediaType) !== MediaType.OciIndex) throw new PolyarchError('MANIFEST_INVALID', `${what}: a referrers list must be an OCI image index, not ${raw.mediaType}`);
  const body = parseJsonObject(raw.bytes, what);
  if (body.mediaType !== undefined && body.mediaType !== MediaType.OciIndex) throw new PolyarchError('MANIFEST_INVALID', `${what}: a referrers list must be an OCI image index, not ${String(body.mediaType)}`);
  if (!Array.isArray(body.manifests)) throw new PolyarchError('MANIFEST_INVALID', `${what}: manifests must be an array`);
  return body.manifests.map((m, i) => parseDescriptor(m, `${what} entry ${i}`));
}
