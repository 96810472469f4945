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
import { normalizePlatform } from '../platform/normalize.js';
import { isAttestationEntry } from './select-platforms.js';

type Io = { readonly signal?: AbortSignal };

/** One image (or attestation) an index is assembled from, and where its content lives. */
export interface SourceImage {
  readonly endpoint: Endpoint;
  /** Names the source in messages, as the user wrote it. */
  readonly source: string;
  readonly descriptor: Descriptor;
  readonly attestation: boolean;
}

/** Reads a manifest, turning "not there" into bad input that names the source. */
export async function fetchSourceManifest(endpoint: Endpoint, reference: string, source: string, io: Io): Promise<RawManifest> {
  try {
    return await endpoint.getManifest(reference, io);
  } catch (error) {
    if (isPolyarchError(error) && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'NOT_FOUND' || error.code === 'NAME_UNKNOWN')) {
      throw new PolyarchError('MANIFEST_UNKNOWN', `source ${source} does not exist: ${error.message}`, { cause: error, badInput: true });
    }
    throw error;
  }
}

/** The platform an image's config declares, normalized. */
export async function platformOfImage(endpoint: Endpoint, raw: RawManifest, source: string, io: Io): Promise<Platform | undefined> {
  const manifest = parseImageManifest(raw, `${source} manifest`);
  const bytes = await readAllLimited(await endpoint.openBlob(manifest.config, io), 4 * 1024 * 1024, `config of ${source}`);
  const platform = platformOfConfig(parseImageConfig(bytes, `config of ${source}`));
  return platform ? normalizePlatform(platform) : undefined;
}

/**
 * The images a source contributes: an image with its platform (given, or from its config), or
 * every entry of an index (flattened), with attestations marked.
 */
export async function resolveSourceImages(endpoint: Endpoint, reference: string, source: string, platform: Platform | undefined, io: Io): Promise<SourceImage[]> {
  const raw = await fetchSourceManifest(endpoint, reference, source, io);
  if (isIndex(raw.mediaType)) {
    const index = parseImageIndex(raw, source);
    const images = index.manifests.filter((d) => !isAttestationEntry(d));
    if (platform && images.length !== 1) {
      throw new PolyarchError('USAGE', `source ${source} is an index of ${images.length} images; a platform can be given only for a single image`);
    }
    return index.manifests.map((d) => ({
      endpoint,
      source,
      attestation: isAttestationEntry(d),
      descriptor: !isAttestationEntry(d) && (platform ?? d.platform) ? { ...d, platform: normalizePlatform((platform ?? d.platform) as Platform) } : d,
    }));
  }
  if (!isImageManifest(raw.mediaType)) throw new PolyarchError('UNSUPPORTED_MEDIA_TYPE', `source ${source}: media type ${raw.mediaType} is neither an image nor an index`, { badInput: true });
  const found = platform ? normalizePlatform(platform) : await platformOfImage(endpoint, raw, source, io);
  if (!found) throw new PolyarchError('USAGE', `source ${source}: its config names no os/architecture; give one as ${source},platform=os/arch`, { badInput: true });
  return [{ endpoint, source, attestation: false, descriptor: descriptorOf(raw, { platform: found }) }];
}
