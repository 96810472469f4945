import { digestOfBytes, type Digest } from '../digest/digest.js';
import { verifyBytes } from '../digest/verify-stream.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { baseMediaType } from '../mediatype/mediatype.js';

/**
 * A manifest as it travels: the exact bytes, their digest and media type. Never re-serialize
 * what was fetched; the digest is over these bytes.
 */
export interface RawManifest {
  readonly bytes: Buffer;
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
}

/** Caps what polyarch fetches or pushes as one manifest (distribution's limit). */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

/**
 * Wraps bytes as a manifest. The media type is the one declared (Content-Type), falling back to
 * the body's `mediaType`; with `expected`, the bytes must match that digest.
 */
export function rawFromBytes(bytes: Buffer, options: { mediaType?: string; expected?: Digest; what?: string } = {}): RawManifest {
  const what = options.what ?? 'manifest';
  if (options.expected !== undefined) verifyBytes(bytes, { digest: options.expected, what });
  let declared = options.mediaType ? baseMediaType(options.mediaType) : '';
  if (declared === '' || declared === 'application/json' || declared === 'application/octet-stream' || declared === 'text/plain') {
    declared = mediaTypeFromBody(bytes, what);
  }
  return { bytes, digest: options.expected ?? digestOfBytes(bytes), mediaType: declared, size: bytes.length };
}

function mediaTypeFromBody(bytes: Buffer, what: string): string {
  const body = parseJsonObject(bytes, what);
  if (typeof body.mediaType === 'string' && body.mediaType !== '') return body.mediaType;
  // OCI allows an absent mediaType: tell an index from a manifest by its fields.
  if (Array.isArray(body.manifests)) return 'application/vnd.oci.image.index.v1+json';
  if (typeof body.config === 'object' && body.config !== null) return 'application/vnd.oci.image.manifest.v1+json';
  throw new PolyarchError('UNSUPPORTED_MEDIA_TYPE', `${what}: no media type declared and the body is neither an index nor an image manifest`);
}

export function parseJsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new PolyarchError('MANIFEST_INVALID', `${what}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PolyarchError('MANIFEST_INVALID', `${what}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Serializes a manifest polyarch builds itself (never one it fetched). */
export function rawFromJson(value: unknown, mediaType: string): RawManifest {
  const bytes = Buffer.from(JSON.stringify(value, null, 2));
  return { bytes, digest: digestOfBytes(bytes), mediaType, size: bytes.length };
}
