// What the embedded registry accepts as a manifest: checked whole before anything is stored, so a
// stored manifest is always one every reader (the web page, referrers, clients) can rely on.
// https://github.com/opencontainers/image-spec/blob/v1.1.1/descriptor.md (descriptor properties)
// https://github.com/opencontainers/image-spec/blob/v1.1.1/manifest.md and image-index.md
import { isDigest, type Digest } from '../digest/digest.js';
import { baseMediaType, isImageManifest, isIndex } from '../mediatype/mediatype.js';
import { HttpError } from './error-response.js';

/** RFC 6838 media type, as the image-spec requires of `mediaType` and `artifactType`. */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

export interface CheckedManifest {
  /** The manifest's media type, one of the four polyarch serves, in canonical form. */
  readonly mediaType: string;
  /** Blobs the repository must hold (config and layers without `urls`). */
  readonly blobs: readonly Digest[];
  /** Manifests the repository must hold (index entries). */
  readonly manifests: readonly Digest[];
  readonly subject: Digest | undefined;
}

type Json = Record<string, unknown>;

function invalid(message: string): HttpError {
  return new HttpError('MANIFEST_INVALID', message);
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkMediaType(value: unknown, where: string): string {
  if (typeof value !== 'string' || !MEDIA_TYPE.test(value)) throw invalid(`${where} is not a media type`);
  return value;
}

function checkStringMap(value: unknown, where: string): void {
  if (value === undefined) return;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) throw invalid(`${where} must map strings to strings`);
}

function checkStringList(value: unknown, where: string): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw invalid(`${where} must be a list of strings`);
}

function checkPlatform(value: unknown, where: string): void {
  if (value === undefined) return;
  if (!isObject(value)) throw invalid(`${where} must be an object`);
  for (const field of ['architecture', 'os'] as const) if (typeof value[field] !== 'string') throw invalid(`${where}.${field} must be a string`);
  for (const field of ['os.version', 'variant'] as const) if (value[field] !== undefined && typeof value[field] !== 'string') throw invalid(`${where}.${field} must be a string`);
  checkStringList(value['os.features'], `${where}.os.features`);
  checkStringList(value.features, `${where}.features`);
}

/** A descriptor: media type, digest, and a size that is a whole number of bytes. */
function checkDescriptor(value: unknown, where: string): { digest: Digest; foreign: boolean } {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  checkMediaType(value.mediaType, `${where}.mediaType`);
  if (typeof value.digest !== 'string' || !isDigest(value.digest)) throw invalid(`${where}.digest is not a digest`);
  if (typeof value.size !== 'number' || !Number.isSafeInteger(value.size) || value.size < 0) throw invalid(`${where}.size must be a non-negative integer`);
  if (value.artifactType !== undefined) checkMediaType(value.artifactType, `${where}.artifactType`);
  if (value.data !== undefined && typeof value.data !== 'string') throw invalid(`${where}.data must be a string`);
  checkStringList(value.urls, `${where}.urls`);
  checkStringMap(value.annotations, `${where}.annotations`);
  checkPlatform(value.platform, `${where}.platform`);
  return { digest: value.digest, foreign: Array.isArray(value.urls) && value.urls.length > 0 };
}

/**
 * Checks a parsed manifest or index against the spec's shapes. `declared` is the request's
 * Content-Type (base form, may be empty). Throws MANIFEST_INVALID naming the first bad field.
 */
export function checkManifest(body: Json, declared: string): CheckedManifest {
  if (body.schemaVersion !== 2) throw invalid(`schemaVersion must be 2, not ${body.schemaVersion === undefined ? 'missing' : typeof body.schemaVersion === 'number' ? body.schemaVersion : `a ${typeof body.schemaVersion}`}`);
  let own: string | undefined;
  if (body.mediaType !== undefined) own = checkMediaType(body.mediaType, 'mediaType');
  if (own && declared && baseMediaType(own) !== declared) throw invalid(`Content-Type ${declared} does not match the manifest's mediaType ${own}`);
  const chosen = own ?? declared;
  if (!chosen) throw invalid('no media type: set Content-Type or mediaType');
  if (body.artifactType !== undefined) checkMediaType(body.artifactType, 'artifactType');
  checkStringMap(body.annotations, 'annotations');
  const subject = body.subject === undefined ? undefined : checkDescriptor(body.subject, 'subject').digest;
  if (isImageManifest(chosen)) {
    if (!Array.isArray(body.layers)) throw invalid('an image manifest needs a layers list');
    const refs = [checkDescriptor(body.config, 'config'), ...body.layers.map((d, i) => checkDescriptor(d, `layers[${i}]`))];
    return { mediaType: baseMediaType(chosen), blobs: refs.filter((r) => !r.foreign).map((r) => r.digest), manifests: [], subject };
  }
  if (isIndex(chosen)) {
    if (!Array.isArray(body.manifests)) throw invalid('an index needs a manifests list');
    const entries = body.manifests.map((d, i) => checkDescriptor(d, `manifests[${i}]`));
    return { mediaType: baseMediaType(chosen), blobs: [], manifests: entries.map((e) => e.digest), subject };
  }
  throw invalid(`unsupported manifest media type ${chosen}`);
}
