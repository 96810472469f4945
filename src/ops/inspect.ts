import type { Descriptor } from '../image/descriptor.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { ImageConfig } from '../image/config.js';
import type { RawManifest } from '../image/raw-manifest.js';
import type { Platform } from '../platform/platform.js';
import { isPolyarchError, PolyarchError } from '../errors/polyarch-error.js';
import { interruptible } from '../errors/interrupted.js';
import { parseImageConfig, platformOfConfig } from '../image/config.js';
import { descriptorOf } from '../image/descriptor.js';
import { parseImageIndex } from '../image/index.js';
import { parseImageManifest } from '../image/manifest.js';
import { MANIFEST_READS_AT_ONCE, mapConcurrent, readAllLimited } from '../internal/streams.js';
import { isImageManifest, isIndex } from '../mediatype/mediatype.js';
import { formatPlatform } from '../platform/platform.js';
import { selectEntry } from '../platform/match.js';
import type { ConnectionOptions } from '../endpoint/open-endpoint.js';
import { checkImagePlatform, isAttestationEntry } from './select-platforms.js';
import { referenceOrLatest, toLocation, withOpener, type LocationInput } from './session.js';

/** Configs are small JSON; refuse anything that is not (oras uses the same cap). */
const MAX_CONFIG_SIZE = 4 * 1024 * 1024;

export interface IndexEntryInspection {
  readonly descriptor: Descriptor;
  readonly platform?: Platform;
  readonly attestation: boolean;
  /** With `verbose`: the image behind the entry. */
  readonly image?: ImageInspection;
}

export interface ImageInspection {
  readonly kind: 'image';
  readonly descriptor: Descriptor;
  readonly raw: RawManifest;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  /** Config plus layers, as stored (compressed). */
  readonly totalSize: number;
  readonly platform?: Platform;
  readonly created?: string;
  readonly imageConfig?: ImageConfig;
  /** What this manifest refers to, when it is an artifact (a signature, an SBOM). */
  readonly subject?: Descriptor;
  /** Manifests that refer to this one (artifactType, annotations as the referrers list gives them). */
  readonly referrers?: readonly Descriptor[];
}

export interface IndexInspection {
  readonly kind: 'index';
  readonly descriptor: Descriptor;
  readonly raw: RawManifest;
  readonly entries: readonly IndexEntryInspection[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly subject?: Descriptor;
  readonly referrers?: readonly Descriptor[];
}

export type Inspection = ImageInspection | IndexInspection;

/** How to read what is inspected: shared by {@link inspect} and {@link inspectImage}. */
export interface InspectReadOptions {
  /** For an index: inspect the image a host of this platform would pull. */
  readonly platform?: Platform;
  /** For an index: also read each image's manifest and config. */
  readonly verbose?: boolean;
  /** Stops the reads: the verb rejects with an `INTERRUPTED` PolyarchError. */
  readonly signal?: AbortSignal;
}

/** What {@link inspect} takes: a location as the user writes it, and how to connect. */
export interface InspectOptions extends InspectReadOptions, ConnectionOptions {
  /** `host/repo:tag`, `oci:DIR:tag`, `docker-archive:FILE`, … or a parsed `Location`; no tag means `latest`. */
  readonly location: LocationInput;
}

/** What {@link inspectImage} takes: an endpoint already open and the reference to read in it. */
export interface InspectImageOptions extends InspectReadOptions {
  /** Where to read; the caller opens and closes it. */
  readonly endpoint: Endpoint;
  /** The tag or digest to read in `endpoint`. */
  readonly reference: string;
}

/**
 * Reads what a reference names in an open endpoint: an index with its platform table, or an
 * image with its config and layers (and the referrers the endpoint lists for it).
 *
 * {@includeCode ../../examples/api/inspectImage.ts#example}
 */
export async function inspectImage(options: InspectImageOptions): Promise<Inspection> {
  return interruptible(options.signal, () => inspectEndpoint(options));
}

async function inspectEndpoint(options: InspectImageOptions): Promise<Inspection> {
  const { endpoint, reference } = options;
  const io = options.signal ? { signal: options.signal } : {};
  const raw = await endpoint.getManifest(reference, io);
  const what = `${endpoint.description}:${reference}`;
  if (isIndex(raw.mediaType)) {
    const index = parseImageIndex(raw, what);
    if (options.platform) {
      const choice = selectEntry(index.manifests.filter((d) => !isAttestationEntry(d)), options.platform);
      if (!choice.entry) {
        throw new PolyarchError('PLATFORM_NOT_IN_INDEX', `${what} has no image for platform ${formatPlatform(options.platform)} (${choice.why.join('; ')})`);
      }
      return withReferrers(endpoint, await inspectManifest(endpoint, await endpoint.getManifest(choice.entry.digest, io), choice.entry.platform, io), io);
    }
    // With --verbose, each entry's manifest and config are read side by side.
    const images = await mapConcurrent(index.manifests, MANIFEST_READS_AT_ONCE, async (d) =>
      options.verbose && isImageManifest(d.mediaType) ? inspectManifest(endpoint, await endpoint.getManifest(d.digest, io), d.platform, io) : undefined,
    );
    const entries = index.manifests.map((d, i): IndexEntryInspection => {
      const image = images[i];
      return { descriptor: d, attestation: isAttestationEntry(d), ...(d.platform ? { platform: d.platform } : {}), ...(image ? { image } : {}) };
    });
    const subject = index.subject ? { subject: index.subject } : {};
    return withReferrers(endpoint, { kind: 'index', descriptor: descriptorOf(raw), raw, entries, ...(index.annotations ? { annotations: index.annotations } : {}), ...subject }, io);
  }
  const image = await inspectManifest(endpoint, raw, undefined, io);
  if (options.platform) checkImagePlatform(image.platform, [options.platform], what, { strict: false });
  return withReferrers(endpoint, image, io);
}

/** A registry that refuses the referrers API and has no fallback tag simply has none to show. */
const NO_REFERRERS = new Set(['UNSUPPORTED', 'NOT_FOUND', 'NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'UNAUTHORIZED', 'DENIED']);

async function withReferrers<T extends Inspection>(endpoint: Endpoint, inspection: T, io: { signal?: AbortSignal }): Promise<T> {
  if (!endpoint.listReferrers) return inspection;
  try {
    return { ...inspection, referrers: await endpoint.listReferrers(inspection.descriptor.digest, io) };
  } catch (error) {
    if (isPolyarchError(error) && NO_REFERRERS.has(error.code)) return { ...inspection, referrers: [] };
    throw error;
  }
}

async function inspectManifest(endpoint: Endpoint, raw: RawManifest, declared: Platform | undefined, io: { signal?: AbortSignal }): Promise<ImageInspection> {
  if (!isImageManifest(raw.mediaType)) {
    throw new PolyarchError('UNSUPPORTED_MEDIA_TYPE', `${endpoint.description}@${raw.digest}: media type ${raw.mediaType} is neither an index nor an image`);
  }
  const manifest = parseImageManifest(raw);
  let imageConfig: ImageConfig | undefined;
  if (manifest.config.size <= MAX_CONFIG_SIZE && /json/.test(manifest.config.mediaType)) {
    const bytes = await readAllLimited(await endpoint.openBlob(manifest.config, io), MAX_CONFIG_SIZE, `config ${manifest.config.digest}`);
    imageConfig = parseImageConfig(bytes, `config ${manifest.config.digest}`);
  }
  const platform = (imageConfig && platformOfConfig(imageConfig)) ?? declared;
  return {
    kind: 'image',
    descriptor: descriptorOf(raw, declared ? { platform: declared } : {}),
    raw,
    config: manifest.config,
    layers: manifest.layers,
    totalSize: manifest.config.size + manifest.layers.reduce((sum, l) => sum + l.size, 0),
    ...(platform ? { platform } : {}),
    ...(imageConfig?.created ? { created: imageConfig.created } : {}),
    ...(imageConfig ? { imageConfig } : {}),
    ...(manifest.subject ? { subject: manifest.subject } : {}),
  };
}

/**
 * Reads what a location holds (`polyarch inspect LOC`): an index with its platform table, or an
 * image with its config and layers.
 *
 * {@includeCode ../../examples/api/inspect.ts#example}
 */
export async function inspect(options: InspectOptions): Promise<Inspection> {
  return interruptible(options.signal, () =>
    withOpener(options, async (opener) => {
      const { endpoint, reference } = await opener.open(toLocation(options.location), 'read');
      return inspectEndpoint({ ...options, endpoint, reference: referenceOrLatest(reference) });
    }),
  );
}
