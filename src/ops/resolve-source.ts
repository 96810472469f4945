import type { Descriptor } from '../image/descriptor.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { RawManifest } from '../image/raw-manifest.js';
import type { Platform } from '../platform/platform.js';
import { PolyarchError, isPolyarchError } from '../errors/polyarch-error.js';
import { parseImageConfig, platformOfConfig } from '../image/config.js';
import { descriptorOf } from '../image/descriptor.js';
import { parseImageIndex } from '../image/index.js';
import { parseImageManifest } from '../image/manifest.js';
import { readAllLimited } from '../internal/streams.js';
import { isImageManifest, isIndex } from '../mediatype/mediatype.js';
import { normalizeArch, normalizePlatform } from '../platform/normalize.js';
import { formatPlatform } from '../platform/platform.js';
import { normalizeWithNotice, type NoticeHandler } from './platform-input.js';
import { filterIndexEntries, isAttestationEntry } from './select-platforms.js';

type Io = { readonly signal?: AbortSignal };

/** One image (or attestation) an index is assembled from, and where its content lives. */
export interface SourceImage {
  readonly endpoint: Endpoint;
  /** Names the source in messages, as the user wrote it. */
  readonly source: string;
  readonly descriptor: Descriptor;
  readonly attestation: boolean;
}

export interface ResolveSourceOptions extends Io {
  /** The platform to record, as the user wrote it; normalized here, with a notice when that changes it. */
  readonly platform?: Platform;
  /** manifest-tool's rule: a given platform's empty variant, os.version and os.features come from the config. */
  readonly completeFromConfig?: boolean;
  readonly onNotice?: NoticeHandler;
}

/** Reads a manifest, turning "not there" into bad input that names the source. */
export async function fetchSourceManifest(endpoint: Endpoint, reference: string, source: string, io: Io): Promise<RawManifest> {
  try {
    return await endpoint.getManifest(reference, io);
  } catch (error) {
    if (isPolyarchError(error) && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'NOT_FOUND' || error.code === 'NAME_UNKNOWN')) {
      throw new PolyarchError('MANIFEST_UNKNOWN', `source ${source} does not exist: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** The platform an image's config declares, as written there (not normalized). */
export async function configPlatformOf(endpoint: Endpoint, raw: RawManifest, source: string, io: Io): Promise<Platform | undefined> {
  const manifest = parseImageManifest(raw, `${source} manifest`);
  const bytes = await readAllLimited(await endpoint.openBlob(manifest.config, io), 4 * 1024 * 1024, `config of ${source}`);
  return platformOfConfig(parseImageConfig(bytes, `config of ${source}`));
}

/** The platform an image's config declares, normalized. */
export async function platformOfImage(endpoint: Endpoint, raw: RawManifest, source: string, io: Io): Promise<Platform | undefined> {
  const platform = await configPlatformOf(endpoint, raw, source, io);
  return platform ? normalizePlatform(platform) : undefined;
}

/** A given platform with what it leaves empty taken from the config (manifest-tool resolvePlatform). */
function completePlatform(given: Platform, config: Platform | undefined): Platform {
  // Only from a config for the same architecture: arm/v7's variant means nothing for arm64.
  if (!config || normalizeArch(config.architecture, undefined).architecture !== normalizeArch(given.architecture, undefined).architecture) return given;
  return {
    ...given,
    ...(!given.variant && config.variant ? { variant: config.variant } : {}),
    ...(!given['os.version'] && config['os.version'] ? { 'os.version': config['os.version'] } : {}),
    ...(!given['os.features']?.length && config['os.features']?.length ? { 'os.features': config['os.features'] } : {}),
  };
}

/** Whether a platform given for an image says something else than its config says (a variant only when both name one, as written). */
function contradicts(given: Platform, config: Platform): boolean {
  const [a, b] = [normalizePlatform(given), normalizePlatform(config)];
  if (a.os !== b.os || a.architecture !== b.architecture) return true;
  return Boolean(given.variant) && Boolean(config.variant) && (a.variant ?? '') !== (b.variant ?? '');
}

/** The platform one image is recorded with: given (maybe completed from its config), else its config's. */
async function platformForImage(endpoint: Endpoint, raw: RawManifest, source: string, options: ResolveSourceOptions): Promise<Platform> {
  const given = options.platform;
  const config = await configPlatformOf(endpoint, raw, source, options);
  // A given platform may add what the config leaves out (a variant: amd64/v2) but not make one
  // image another's: os and architecture must agree, and a variant the config names too.
  if (given && config?.os && config.architecture && contradicts(given, config)) {
    throw new PolyarchError('ARCH_MISMATCH', `source ${source}: its config says ${formatPlatform(config)}, not ${formatPlatform(given)}; a platform given for an image may only add what its config leaves out`);
  }
  if (given && !options.completeFromConfig) return normalizeWithNotice(given, source, options.onNotice);
  // A variant taken from the config is not the user's to be told about.
  if (given) return normalizeWithNotice(completePlatform(given, config), source, options.onNotice, { namesOnly: !given.variant });
  if (!config?.os || !config.architecture) {
    throw new PolyarchError('USAGE', `source ${source}: its config names no os/architecture; give one as ${source},platform=os/arch`);
  }
  return normalizeWithNotice(config, `${source} (config)`, options.onNotice, { namesOnly: true });
}

/** The entries an index source contributes: all of them, or those for the given platform. */
function indexEntriesFor(raw: RawManifest, source: string, given: Platform | undefined): { entries: Descriptor[]; relabel: boolean } {
  const index = parseImageIndex(raw, source);
  const images = index.manifests.filter((d) => !isAttestationEntry(d));
  if (!given) return { entries: [...index.manifests], relabel: false };
  // One image (buildx's image plus attestation): the given platform is what to record for it.
  if (images.length === 1) return { entries: [...index.manifests], relabel: true };
  // Several: the given platform picks one, as `docker pull --platform` would (exact, after normalization).
  return { entries: filterIndexEntries(index, [normalizePlatform(given)], `source ${source}`), relabel: false };
}

/**
 * The images a source contributes: an image with its platform (given, or from its config), or
 * the entries of an index (flattened), with attestations marked and kept in place.
 */
export async function resolveSourceImages(endpoint: Endpoint, reference: string, source: string, options: ResolveSourceOptions = {}): Promise<SourceImage[]> {
  const raw = await fetchSourceManifest(endpoint, reference, source, options);
  if (isImageManifest(raw.mediaType)) {
    return [{ endpoint, source, attestation: false, descriptor: descriptorOf(raw, { platform: await platformForImage(endpoint, raw, source, options) }) }];
  }
  if (!isIndex(raw.mediaType)) throw new PolyarchError('UNSUPPORTED_MEDIA_TYPE', `source ${source}: media type ${raw.mediaType} is neither an image nor an index`);
  const { entries, relabel } = indexEntriesFor(raw, source, options.platform);
  const { platform: _given, ...fromConfig } = options;
  const images: SourceImage[] = [];
  for (const d of entries) {
    if (isAttestationEntry(d) || !isImageManifest(d.mediaType)) {
      images.push({ endpoint, source, attestation: isAttestationEntry(d), descriptor: d });
      continue;
    }
    const what = `${source}@${d.digest}`;
    let platform: Platform;
    if (relabel || !d.platform?.os || !d.platform.architecture) {
      // An entry without a platform (OCI allows it) gets the one its config declares; the lone
      // image of a one-entry index (a buildx push) gets the given one only if its config agrees.
      const child = await endpoint.getManifest(d.digest, options);
      platform = await platformForImage(endpoint, child, what, relabel ? options : fromConfig);
    } else {
      platform = normalizeWithNotice(d.platform, `${source} entry ${formatPlatform(d.platform)}`, options.onNotice, { namesOnly: true });
    }
    images.push({ endpoint, source, attestation: false, descriptor: { ...d, platform } });
  }
  return images;
}
