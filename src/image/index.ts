import type { Descriptor } from './descriptor.js';
import type { RawManifest } from './raw-manifest.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { MediaType, isIndex } from '../mediatype/mediatype.js';
import { parseDescriptor } from './descriptor.js';
import { parseJsonObject, rawFromJson } from './raw-manifest.js';

/**
 * An image index (OCI) or manifest list (Docker), with the raw bytes it was read from.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/image-index.md
 */
export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly raw: RawManifest;
}

/** The index in `raw`, its entries checked as descriptors; `what` names it in errors. */
export function parseImageIndex(raw: RawManifest, what = `index ${raw.digest}`): ImageIndex {
  if (!isIndex(raw.mediaType)) throw new PolyarchError('UNSUPPORTED_MEDIA_TYPE', `${what}: media type ${raw.mediaType} is not an index`);
  const body = parseJsonObject(raw.bytes, what);
  if (body.schemaVersion !== 2) throw new PolyarchError('MANIFEST_INVALID', `${what}: schemaVersion must be 2`);
  if (!Array.isArray(body.manifests)) throw new PolyarchError('MANIFEST_INVALID', `${what}: manifests must be an array`);
  const manifests = body.manifests.map((m, i) => parseDescriptor(m, `${what} entry ${i}`));
  return { ...(body as object), schemaVersion: 2, manifests, raw } as ImageIndex;
}

export interface BuildIndexOptions {
  readonly mediaType?: typeof MediaType.OciIndex | typeof MediaType.DockerManifestList;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly artifactType?: string;
  readonly subject?: Descriptor;
}

/** Serializes a new index over `entries`; a Docker list cannot carry index annotations. */
export function buildIndex(entries: readonly Descriptor[], options: BuildIndexOptions = {}): RawManifest {
  const mediaType = options.mediaType ?? MediaType.OciIndex;
  const docker = mediaType === MediaType.DockerManifestList;
  if (docker && (options.annotations || options.subject || options.artifactType)) {
    throw new PolyarchError('USAGE', 'a Docker manifest list cannot carry annotations, a subject or an artifact type; use the OCI index format');
  }
  const body = {
    schemaVersion: 2,
    mediaType,
    ...(options.artifactType ? { artifactType: options.artifactType } : {}),
    manifests: entries.map(cleanDescriptor),
    ...(options.subject ? { subject: cleanDescriptor(options.subject) } : {}),
    ...(options.annotations && Object.keys(options.annotations).length > 0 ? { annotations: options.annotations } : {}),
  };
  return rawFromJson(body, mediaType);
}

/** A descriptor with only spec fields, in spec order (what goes into JSON we write). */
export function cleanDescriptor(d: Descriptor): Descriptor {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.urls ? { urls: d.urls } : {}),
    ...(d.annotations && Object.keys(d.annotations).length > 0 ? { annotations: d.annotations } : {}),
    ...(d.data ? { data: d.data } : {}),
    ...(d.platform ? { platform: d.platform } : {}),
    ...(d.artifactType ? { artifactType: d.artifactType } : {}),
  };
}
