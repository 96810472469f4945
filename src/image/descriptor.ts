import type { Digest } from '../digest/digest.js';
import type { Platform } from '../platform/platform.js';
import type { RawManifest } from './raw-manifest.js';
import { isDigest } from '../digest/digest.js';
import { PolyarchError } from '../errors/polyarch-error.js';

/**
 * A content descriptor.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/descriptor.md
 */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly data?: string;
  readonly platform?: Platform;
  readonly artifactType?: string;
}

/** The descriptor that points at a manifest, with optional platform and annotations. */
export function descriptorOf(raw: RawManifest, extra: { platform?: Platform; annotations?: Readonly<Record<string, string>>; artifactType?: string } = {}): Descriptor {
  return {
    mediaType: raw.mediaType,
    digest: raw.digest,
    size: raw.size,
    ...(extra.platform ? { platform: extra.platform } : {}),
    ...(extra.annotations && Object.keys(extra.annotations).length > 0 ? { annotations: extra.annotations } : {}),
    ...(extra.artifactType ? { artifactType: extra.artifactType } : {}),
  };
}

/** Validates the shape of a descriptor read from JSON (a manifest, index.json, a registry answer). */
export function parseDescriptor(value: unknown, what: string): Descriptor {
  if (typeof value !== 'object' || value === null) throw new PolyarchError('MANIFEST_INVALID', `${what}: descriptor is not an object`);
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '') throw new PolyarchError('MANIFEST_INVALID', `${what}: descriptor has no mediaType`);
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) throw new PolyarchError('MANIFEST_INVALID', `${what}: descriptor digest ${JSON.stringify(d.digest)} is not a valid digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw new PolyarchError('MANIFEST_INVALID', `${what}: descriptor size ${JSON.stringify(d.size)} is not a non-negative integer`);
  return value as Descriptor;
}
