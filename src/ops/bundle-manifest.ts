// The bundle manifest: `polyarch-bundle.json` inside each bundle archive, listing what it holds
// (image, tag, platform, digest, size), so `inspect` can print it and `bundle push` can check the
// archive against it. Read from untrusted files: every field is checked before use.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { isDigest, type Digest } from '../digest/digest.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { interruptible } from '../errors/interrupted.js';
import { readArchiveMember } from '../endpoint/bundle-cache.js';
import { parseReference } from '../reference/reference.js';
import { parseLocation } from '../reference/location.js';
import type { ArchiveFormat } from '../endpoint/bundle-cache.js';

export const BUNDLE_MANIFEST_NAME = 'polyarch-bundle.json';
export const BUNDLE_MEDIA_TYPE = 'application/vnd.polyarch.bundle.v1+json';
/** A bundle of thousands of images still has a manifest far below this. */
const MAX_BUNDLE_MANIFEST = 4 * 1024 * 1024;
const MAX_IMAGES = 10_000;

/** One image in a bundle archive. */
export interface BundleEntry {
  /** The name it carries in the archive (RepoTags or ref.name), as it was listed: `registry:5000/team/app:1`. */
  readonly image: string;
  readonly tag: string;
  readonly platform: string;
  /** The image manifest's digest (kept from the source, so a push restores the same digest). */
  readonly digest: Digest;
  readonly mediaType: string;
  /** Config and layers as stored (compressed), in bytes. */
  readonly size: number;
  /** The digest the listed name resolved to in the source (an index, or the image itself). */
  readonly source: Digest;
}

export interface BundleManifest {
  readonly schemaVersion: 1;
  readonly mediaType: typeof BUNDLE_MEDIA_TYPE;
  readonly format: ArchiveFormat;
  readonly platform: string;
  readonly images: readonly BundleEntry[];
}

function bad(what: string, why: string): PolyarchError {
  return new PolyarchError('LAYOUT_INVALID', `${what}: ${BUNDLE_MANIFEST_NAME} is invalid (${why})`);
}

/** Parses and checks a bundle manifest (`polyarch-bundle.json`) read from an untrusted archive; `what` names it in errors. */
export function parseBundleManifest(bytes: Buffer, what: string): BundleManifest {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw bad(what, 'not JSON');
  }
  const body = value as Partial<Record<keyof BundleManifest, unknown>> | null;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad(what, 'not an object');
  if (body.schemaVersion !== 1 || body.mediaType !== BUNDLE_MEDIA_TYPE) throw bad(what, `unknown version or media type`);
  if (body.format !== 'docker' && body.format !== 'oci') throw bad(what, 'format is neither docker nor oci');
  if (typeof body.platform !== 'string') throw bad(what, 'no platform');
  if (!Array.isArray(body.images) || body.images.length === 0 || body.images.length > MAX_IMAGES) throw bad(what, `images must be a list of 1 to ${MAX_IMAGES}`);
  const images = body.images.map((item: unknown, i): BundleEntry => {
    const e = item as Partial<Record<keyof BundleEntry, unknown>> | null;
    const where = `image ${i + 1}`;
    if (typeof e !== 'object' || e === null) throw bad(what, `${where} is not an object`);
    if (typeof e.image !== 'string' || typeof e.tag !== 'string' || typeof e.platform !== 'string' || typeof e.mediaType !== 'string') throw bad(what, `${where} lacks a name, tag, platform or media type`);
    if (typeof e.digest !== 'string' || !isDigest(e.digest) || typeof e.source !== 'string' || !isDigest(e.source)) throw bad(what, `${where} has a bad digest`);
    if (typeof e.size !== 'number' || !Number.isSafeInteger(e.size) || e.size < 0) throw bad(what, `${where} has a bad size`);
    let tag: string | undefined;
    try {
      tag = parseReference(e.image).tag;
    } catch {
      throw bad(what, `${where}: ${JSON.stringify(e.image)} is not an image name`);
    }
    if (tag !== e.tag) throw bad(what, `${where}: tag ${JSON.stringify(e.tag)} is not the tag of ${JSON.stringify(e.image)}`);
    return { image: e.image, tag: e.tag, platform: e.platform, digest: e.digest, mediaType: e.mediaType, size: e.size, source: e.source };
  });
  return { schemaVersion: 1, mediaType: BUNDLE_MEDIA_TYPE, format: body.format, platform: body.platform, images };
}

/** A plain path to an archive as a location may be written: it ends in `.tar` or starts with `/`, `./` or `../` (never a registry name). */
export function looksLikeArchivePath(text: string): boolean {
  return /\.tar$/i.test(text) || /^\.{0,2}\//.test(text);
}

/**
 * The archive file a location names when it can be a bundle: `docker-archive:FILE` or
 * `oci-archive:FILE` without an image named in it, or a plain path to an existing file that ends
 * in `.tar` or starts with `/`, `./` or `../` (such text is never meant as a registry name).
 */
export function bundleFileOf(text: string): string | undefined {
  if (text.startsWith('docker-archive:') || text.startsWith('oci-archive:')) {
    const location = parseLocation(text);
    if (location.kind === 'docker-archive') return location.reference === undefined ? location.path : undefined;
    if (location.kind === 'oci-archive') return location.tag === undefined && location.digest === undefined ? location.path : undefined;
    return undefined;
  }
  if (!looksLikeArchivePath(text)) return undefined;
  try {
    return statSync(text).isFile() ? text : undefined;
  } catch {
    return undefined;
  }
}

/** The bundle manifest of an archive, or undefined when the file holds none (a plain `docker save` tar). */
export async function readBundleManifest(file: string): Promise<BundleManifest | undefined> {
  const bytes = await readArchiveMember(file, BUNDLE_MANIFEST_NAME, MAX_BUNDLE_MANIFEST);
  return bytes === undefined ? undefined : parseBundleManifest(bytes, file);
}

/** What {@link inspectBundle} takes. */
export interface InspectBundleOptions {
  /** A location as the user wrote it: `FILE.tar`, `./FILE`, `docker-archive:FILE`, `oci-archive:FILE`, or anything else (then no bundle). */
  readonly location: string;
  /** Checked before the archive is read. */
  readonly signal?: AbortSignal;
}

/** A bundle archive and what its bundle manifest lists. */
export interface BundleInspection {
  readonly file: string;
  readonly manifest: BundleManifest;
}

/**
 * Reads the bundle manifest of a bundle archive (what `polyarch inspect FILE` prints for one);
 * undefined when the location is not a bundle archive (inspect it as usual).
 *
 * {@includeCode ../../examples/api/inspectBundle.ts#example}
 */
export async function inspectBundle(options: InspectBundleOptions): Promise<BundleInspection | undefined> {
  return interruptible(options.signal, async () => {
    const file = bundleFileOf(options.location);
    if (file === undefined) return undefined;
    const manifest = await readBundleManifest(file);
    return manifest ? { file, manifest } : undefined;
  });
}

/**
 * A plain path to an archive (see bundleFileOf) as the location inspect reads: `docker-archive:`
 * when it holds a manifest.json, else `oci-archive:`; a path to an OCI layout directory as
 * `oci:DIR`. Undefined for anything else (left as written). A path that names nothing is NOT_FOUND
 * here: read as a registry name it would fail with a DNS error or a bad host.
 */
export async function archiveLocationFor(text: string): Promise<string | undefined> {
  if (text.startsWith('docker-archive:') || text.startsWith('oci-archive:')) return undefined;
  const file = bundleFileOf(text);
  if (file === undefined) return pathOtherThanFile(text);
  const docker = (await readArchiveMember(file, 'manifest.json', MAX_BUNDLE_MANIFEST)) !== undefined;
  return `${docker ? 'docker-archive' : 'oci-archive'}:${file}`;
}

/** What archiveLocationFor makes of an archive-looking path that is no file: `oci:DIR` for a layout, else an error. */
function pathOtherThanFile(text: string): string | undefined {
  if (!looksLikeArchivePath(text)) return undefined;
  let stat;
  try {
    stat = statSync(text);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const missing = code === 'ENOENT' || code === 'ENOTDIR';
    throw new PolyarchError(missing ? 'NOT_FOUND' : 'USAGE', `${text}: ${missing ? 'no such file' : (code ?? 'cannot be read')}`);
  }
  if (stat.isDirectory() && !text.includes(':') && statSync(join(text, 'oci-layout'), { throwIfNoEntry: false })?.isFile()) return `oci:${text}`;
  throw new PolyarchError('USAGE', `${text} is ${stat.isDirectory() ? 'a directory without an oci-layout file' : 'not a regular file'}: give an archive file, or oci:DIR for an OCI layout`);
}
