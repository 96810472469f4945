// `bundle`: offline release archives, one per platform, each holding every listed image for that
// platform under its name (docker load / skopeo restore them all), each shared blob once.
// Three steps, so nothing is written before everything is known: resolve every image and pick
// its entry for each platform (a missing platform stops here, naming what the image has); fetch
// the picked images into a content-addressed cache (verified blobs only get names, so a rerun
// after an interruption fetches only what is missing); then write each archive from the cache,
// atomically, and the SHA256SUMS beside them.
import { open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Descriptor } from '../image/descriptor.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { RawManifest } from '../image/raw-manifest.js';
import type { Platform } from '../platform/platform.js';
import type { Reference } from '../reference/reference.js';
import type { Digest } from '../digest/digest.js';
import { shortDigest } from '../digest/digest.js';
import { defaultBundleCacheDir, openBundleCache, recordArchiveChecksums, type ArchiveFormat, type BundleCache } from '../endpoint/bundle-cache.js';
import { isPolyarchError, PolyarchError } from '../errors/polyarch-error.js';
import { interruptible } from '../errors/interrupted.js';
import { parseImageConfig, platformOfConfig } from '../image/config.js';
import { parseImageIndex } from '../image/index.js';
import { parseImageManifest } from '../image/manifest.js';
import { readAllLimited } from '../internal/streams.js';
import { isImageManifest, isIndex } from '../mediatype/mediatype.js';
import { createMatcher } from '../platform/match.js';
import { formatPlatform } from '../platform/platform.js';
import { familiarString, formatReference, parseReference, withDefaultTag } from '../reference/reference.js';
import { BUNDLE_MANIFEST_NAME, BUNDLE_MEDIA_TYPE, type BundleEntry, type BundleManifest } from './bundle-manifest.js';
import { checkOutputPlaces, outputPaths } from './bundle-output.js';
import type { TransferListener } from '../progress/transfer.js';
import { copyImage, type BlobEvent } from './copy.js';
import type { NoticeHandler } from './platform-input.js';
import { filterIndexEntries, isAttestationEntry } from './select-platforms.js';
import { withOpener, type ConnectionOptions } from './session.js';
import { makeDirectories } from '../internal/make-directories.js';

/** What {@link bundle} takes. */
export interface BundleOptions extends ConnectionOptions {
  /** Registry references, each with a tag (the name it gets in the archive): `registry:5000/team/app:1`. */
  readonly images: readonly string[];
  /** One archive per platform. */
  readonly platforms: readonly Platform[];
  /** The archive path; `{os}`, `{arch}` and `{variant}` are replaced per platform. */
  readonly output: string;
  /** `docker` (default): docker ≥25's `docker save` form; `oci`: an OCI layout archive. */
  readonly format?: ArchiveFormat;
  /** Where fetched blobs are kept between runs (default `$XDG_CACHE_HOME/polyarch/bundle-blobs`). */
  readonly cacheDir?: string;
  /** Blobs fetched at once per image. */
  readonly concurrency?: number;
  /** Stops the bundle: no archive is left half-written (the cache keeps the verified blobs it has), and the verb rejects with `INTERRUPTED`. */
  readonly signal?: AbortSignal;
  /** Called once per blob as it is settled in the cache (`copied`: fetched now; `skipped`: there from before). */
  readonly onBlob?: (event: BlobEvent) => void;
  /** Hears each blob's bytes as they are fetched into the cache (phase `pull`), as `copy` reports them. */
  readonly onProgress?: TransferListener;
  /** Hears one-line notices (a source that could not be reached, so the cached resolution is used). */
  readonly onNotice?: NoticeHandler;
}

export interface BundleArchive {
  readonly path: string;
  readonly platform: Platform;
  readonly sha256: Digest;
  readonly size: number;
  readonly manifest: BundleManifest;
}

export interface BundleResult {
  readonly archives: readonly BundleArchive[];
  /** The SHA256SUMS files written (one per directory holding archives). */
  readonly checksumFiles: readonly string[];
  readonly cacheDir: string;
  /** Distinct blobs fetched from the sources in this run. */
  readonly blobsFetched: number;
  /** Distinct blobs the archives needed that were in the cache already. */
  readonly blobsReused: number;
  readonly bytesFetched: number;
}

/** One listed image: its name as it goes into the archive, and where to read it. */
interface ListedImage {
  readonly text: string;
  readonly reference: Reference;
  /** `registry:5000/team/app:1`, as docker prints names (RepoTags, ref.name). */
  readonly name: string;
  readonly tag: string;
  /** The cache's record of what the name resolved to: the full name. */
  readonly cacheKey: string;
}

/** An image resolved: its top manifest and, per requested platform, the entry picked. */
interface ResolvedImage {
  readonly listed: ListedImage;
  readonly top: RawManifest;
  readonly fromSource: boolean;
  readonly picked: readonly Descriptor[];
}

/** Lists of more images than this are a mistake (or junk), not a release. */
const MAX_IMAGES = 10_000;
const MAX_CONFIG_SIZE = 4 * 1024 * 1024;

function listImages(texts: readonly string[]): ListedImage[] {
  if (texts.length === 0) throw new PolyarchError('USAGE', 'bundle: no image given; name them, or list them with --images FILE (images)');
  if (texts.length > MAX_IMAGES) throw new PolyarchError('USAGE', `bundle: ${texts.length} images is more than the ${MAX_IMAGES} a bundle may hold`);
  const seen = new Map<string, ListedImage>();
  for (const text of texts) {
    const reference = parseReference(text.startsWith('docker://') ? text.slice('docker://'.length) : text);
    if (reference.tag === undefined && reference.digest !== undefined) {
      throw new PolyarchError('USAGE', `bundle: ${JSON.stringify(text)} names no tag, so the archive could not name it; write NAME:TAG@DIGEST`);
    }
    const tagged = withDefaultTag(reference);
    const { digest: _digest, ...named } = tagged;
    const name = familiarString(named);
    const cacheKey = formatReference(tagged);
    if (!seen.has(cacheKey)) seen.set(cacheKey, { text, reference: tagged, name, tag: tagged.tag ?? 'latest', cacheKey });
  }
  const byName = new Map<string, ListedImage>();
  for (const image of seen.values()) {
    const other = byName.get(image.name);
    if (other) throw new PolyarchError('USAGE', `bundle: ${JSON.stringify(other.text)} and ${JSON.stringify(image.text)} would both be named ${image.name} in the archive`);
    byName.set(image.name, image);
  }
  return [...seen.values()];
}

/** An image list is names, one a line; a file larger than this is not one. */
const MAX_LIST_BYTES = 1024 * 1024;

/**
 * Reads `--images FILE`: one image per line; blank lines and `#` comments are skipped. A file that
 * is not text, too large, or with more images than a bundle holds is refused in one line; a bad
 * name is reported with its line number.
 */
export async function readImageList(file: string): Promise<string[]> {
  let bytes: Buffer;
  try {
    const handle = await open(file, 'r');
    try {
      const size = (await handle.stat()).size;
      if (size > MAX_LIST_BYTES) throw new PolyarchError('CONFIG_INVALID', `image list ${file} is ${size} bytes; a list of names is at most ${MAX_LIST_BYTES}`);
      bytes = Buffer.alloc(size);
      await handle.read(bytes, 0, size, 0);
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (isPolyarchError(error)) throw error;
    throw new PolyarchError('CONFIG_INVALID', `cannot read image list ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  const text = bytes.toString('utf8');
  // eslint-disable-next-line no-control-regex
  if (text.includes('\uFFFD') || /[\x00-\x08\x0e-\x1f\x7f]/.test(text)) throw new PolyarchError('CONFIG_INVALID', `image list ${file} is not a text file of image names`);
  const images: string[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    if (images.length === MAX_IMAGES) throw new PolyarchError('CONFIG_INVALID', `image list ${file} names more than the ${MAX_IMAGES} images a bundle may hold`);
    try {
      parseReference(line.startsWith('docker://') ? line.slice('docker://'.length) : line);
    } catch (error) {
      throw new PolyarchError('INVALID_REFERENCE', `image list ${file} line ${i + 1}: ${(error as Error).message}`, { cause: error });
    }
    images.push(line);
  }
  return images;
}

/** A source that could not be reached at all (as opposed to one that answered "no", or a TLS set-up to fix). */
function unreachable(error: unknown): boolean {
  return isPolyarchError(error) && error.code === 'NETWORK';
}

/** The entry of `top` for each platform, in the order asked; one line naming what the image has when one is missing. */
async function pickEntries(listed: ListedImage, top: RawManifest, platforms: readonly Platform[], readConfig: (d: Descriptor) => Promise<Buffer>): Promise<Descriptor[]> {
  if (isIndex(top.mediaType)) {
    const index = parseImageIndex(top, listed.text);
    return platforms.map((platform) => {
      const entry = filterIndexEntries(index, [platform], listed.text).find((d) => !isAttestationEntry(d)) as Descriptor;
      if (!isImageManifest(entry.mediaType)) {
        throw new PolyarchError('UNSUPPORTED_MEDIA_TYPE', `${listed.text}: the ${formatPlatform(platform)} entry is ${entry.mediaType}, not an image`);
      }
      return entry;
    });
  }
  if (!isImageManifest(top.mediaType)) throw new PolyarchError('UNSUPPORTED_MEDIA_TYPE', `${listed.text}: media type ${top.mediaType} is neither an index nor an image`);
  // A single image: its platform is its config's.
  const manifest = parseImageManifest(top, listed.text);
  const config = manifest.config.size <= MAX_CONFIG_SIZE ? parseImageConfig(await readConfig(manifest.config), `config of ${listed.text}`) : undefined;
  const has = config ? platformOfConfig(config) : undefined;
  return platforms.map((platform) => {
    if (!has || !createMatcher(platform, { strict: true }).matches(has)) {
      throw new PolyarchError('PLATFORM_NOT_IN_INDEX', `${listed.text} has no image for platform ${formatPlatform(platform)} (it is a single image for ${has ? formatPlatform(has) : 'an unknown platform'})`);
    }
    return { mediaType: top.mediaType, digest: top.digest, size: top.size, platform: has };
  });
}

async function cachedManifest(cache: BundleCache, reference: string): Promise<RawManifest | undefined> {
  if ((await cache.endpoint.resolve(reference)) === undefined) return undefined;
  return cache.endpoint.getManifest(reference);
}

/** The image's blobs when the cache holds its manifest and every one of them; undefined when something is missing. */
async function cachedWhole(cache: BundleCache, digest: Digest): Promise<string[] | undefined> {
  const raw = await cachedManifest(cache, digest);
  if (!raw) return undefined;
  const manifest = parseImageManifest(raw);
  const blobs = [manifest.config, ...manifest.layers];
  for (const d of blobs) if (!(await cache.endpoint.hasBlob(d))) return undefined;
  return blobs.map((d) => d.digest);
}

/**
 * Resolves the name in the source; a source that cannot be reached falls back to what the cache
 * recorded for the name on an earlier run (with a notice), and a digest is read from the cache first.
 */
async function resolveTop(source: Endpoint, cache: BundleCache, listed: ListedImage, options: BundleOptions): Promise<{ top: RawManifest; fromSource: boolean }> {
  const io = options.signal ? { signal: options.signal } : {};
  if (listed.reference.digest !== undefined) {
    const cached = await cachedManifest(cache, listed.reference.digest);
    if (cached) return { top: cached, fromSource: false };
  }
  try {
    return { top: await source.getManifest(listed.reference.digest ?? listed.tag, io), fromSource: true };
  } catch (error) {
    if (!unreachable(error)) throw error;
    const cached = await cachedManifest(cache, listed.cacheKey);
    if (!cached) throw error;
    options.onNotice?.(`${listed.text}: source unreachable (${(error as Error).message}); using ${shortDigest(cached.digest)} it resolved to on an earlier run`);
    return { top: cached, fromSource: false };
  }
}

/**
 * Writes offline release archives (`polyarch bundle`): one per platform, each holding every listed
 * image for that platform under its name, each shared blob once, with a SHA256SUMS beside them.
 * Everything is resolved before anything is written; blobs are fetched into a cache that a rerun
 * reuses.
 *
 * {@includeCode ../../examples/api/bundle.ts#example}
 */
export async function bundle(options: BundleOptions): Promise<BundleResult> {
  return interruptible(options.signal, () => writeBundle(options));
}

async function writeBundle(options: BundleOptions): Promise<BundleResult> {
  const format = options.format ?? 'docker';
  if (format !== 'docker' && format !== 'oci') throw new PolyarchError('USAGE', `bundle: unknown format ${JSON.stringify(format)} (docker or oci)`);
  if (options.platforms.length === 0) throw new PolyarchError('USAGE', 'bundle: no platform given; give --platform os/arch[/variant] (platforms)');
  const images = listImages(options.images);
  const paths = outputPaths(options.output, options.platforms);
  checkOutputPlaces(options.output, paths);
  // The lease keeps `prune` from removing blobs this run reuses or has fetched but not yet tagged.
  const cache = await openBundleCache(options.cacheDir ?? defaultBundleCacheDir());
  try {
    return await bundleWith(cache, images, paths, format, options);
  } finally {
    await cache.release();
  }
}

async function bundleWith(cache: BundleCache, images: readonly ListedImage[], paths: readonly string[], format: ArchiveFormat, options: BundleOptions): Promise<BundleResult> {
  const io = options.signal ? { signal: options.signal } : {};
  return withOpener(options, async (opener) => {
    const sources = new Map<string, Endpoint>();
    for (const image of images) {
      const { endpoint } = await opener.open({ kind: 'registry', reference: image.reference }, 'read');
      sources.set(image.cacheKey, endpoint);
    }
    try {
      // 1. Resolve everything first: a missing platform stops the bundle before anything is written.
      const resolved: ResolvedImage[] = [];
      for (const listed of images) {
        options.signal?.throwIfAborted();
        const source = sources.get(listed.cacheKey) as Endpoint;
        const { top, fromSource } = await resolveTop(source, cache, listed, options);
        const readConfig = async (d: Descriptor): Promise<Buffer> => {
          const from = (await cache.endpoint.hasBlob(d)) ? cache.endpoint : source;
          return readAllLimited(await from.openBlob(d, io), MAX_CONFIG_SIZE, `config ${d.digest} of ${listed.text}`);
        };
        resolved.push({ listed, top, fromSource, picked: await pickEntries(listed, top, options.platforms, readConfig) });
      }

      // 2. Fetch what the cache lacks; blobs shared by images are fetched once.
      // Counted by digest: a base layer shared by ten images is one blob.
      const fetched = new Map<string, number>();
      const present = new Set<string>();
      const onBlob = (event: BlobEvent): void => {
        if (event.action === 'skipped') present.add(event.descriptor.digest);
        else fetched.set(event.descriptor.digest, event.descriptor.size);
        options.onBlob?.(event);
      };
      for (const image of resolved) {
        for (const entry of new Map(image.picked.map((d) => [d.digest, d])).values()) {
          options.signal?.throwIfAborted();
          const whole = await cachedWhole(cache, entry.digest);
          if (whole !== undefined) {
            for (const digest of whole) present.add(digest);
            continue;
          }
          const source = sources.get(image.listed.cacheKey) as Endpoint;
          await copyImage({
            source,
            sourceReference: entry.digest,
            destination: cache.endpoint,
            ...io,
            onBlob,
            ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
            ...(options.onProgress ? { onProgress: options.onProgress, progressPhase: 'pull' as const } : {}),
          });
        }
        // The name's resolution, for a later run that cannot reach the source.
        if (image.fromSource) await cache.endpoint.putManifest(image.top, { ...io, tag: image.listed.cacheKey });
        await cache.touch(image.top.digest); // used now: prune --keep-storage keeps the most recently bundled
      }

      // 3. One archive per platform, from the cache, then the checksums beside them.
      const archives: BundleArchive[] = [];
      const sums = new Map<string, Map<string, Digest>>();
      for (const [i, platform] of options.platforms.entries()) {
        const path = paths[i] as string;
        const members: { manifest: RawManifest; name: string }[] = [];
        const entries: BundleEntry[] = [];
        for (const image of resolved) {
          const picked = image.picked[i] as Descriptor;
          const manifest = await cache.endpoint.getManifest(picked.digest, io);
          const parsed = parseImageManifest(manifest);
          members.push({ manifest, name: image.listed.name });
          entries.push({
            image: image.listed.name,
            tag: image.listed.tag,
            platform: picked.platform ? formatPlatform(picked.platform) : formatPlatform(platform),
            digest: manifest.digest,
            mediaType: manifest.mediaType,
            size: parsed.config.size + parsed.layers.reduce((sum, l) => sum + l.size, 0),
            source: image.top.digest,
          });
        }
        const manifest: BundleManifest = { schemaVersion: 1, mediaType: BUNDLE_MEDIA_TYPE, format, platform: formatPlatform(platform), images: entries };
        await makeDirectories(dirname(path));
        const sha256 = await cache.writeArchive(path, members, { ...io, format, extra: [{ name: BUNDLE_MANIFEST_NAME, bytes: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) }] });
        const size = (await stat(path)).size;
        archives.push({ path, platform, sha256, size, manifest });
        const dir = dirname(path);
        if (!sums.has(dir)) sums.set(dir, new Map());
        sums.get(dir)?.set(path, sha256);
      }
      const checksumFiles: string[] = [];
      for (const [dir, files] of sums) checksumFiles.push(await recordArchiveChecksums(dir, files));
      const reused = [...present].filter((d) => !fetched.has(d)).length;
      const bytesFetched = [...fetched.values()].reduce((sum, size) => sum + size, 0);
      return { archives, checksumFiles, cacheDir: cache.dir, blobsFetched: fetched.size, blobsReused: reused, bytesFetched };
    } finally {
      await cache.endpoint.close();
    }
  });
}
