import type { Descriptor } from './descriptor.js';
import type { RawManifest } from './raw-manifest.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { isImageManifest } from '../mediatype/mediatype.js';
import { parseDescriptor } from './descriptor.js';
import { parseJsonObject } from './raw-manifest.js';

/**
 * An image manifest (OCI or Docker schema 2), with the raw bytes it was read from.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/manifest.md
 */
export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly raw: RawManifest;
}

/** The image manifest in `raw`, its config and layers checked as descriptors; `what` names it in errors. */
export function parseImageManifest(raw: RawManifest, what = `manifest ${raw.digest}`): ImageManifest {
  if (!isImageManifest(raw.mediaType)) throw new PolyarchError('UNSUPPORTED_MEDIA_TYPE', `${what}: media type ${raw.mediaType} is not an image manifest`);
  const body = parseJsonObject(raw.bytes, what);
  if (body.schemaVersion !== 2) throw new PolyarchError('MANIFEST_INVALID', `${what}: schemaVersion must be 2`);
  if (!Array.isArray(body.layers)) throw new PolyarchError('MANIFEST_INVALID', `${what}: layers must be an array`);
  const config = parseDescriptor(body.config, `${what} config`);
  const layers = body.layers.map((layer, i) => parseDescriptor(layer, `${what} layer ${i}`));
  return {
    ...(body as object),
    schemaVersion: 2,
    config,
    layers,
    ...(body.subject !== undefined ? { subject: parseDescriptor(body.subject, `${what} subject`) } : {}),
    raw,
  } as ImageManifest;
}
