// `verify LOC`: lint an index (or image) and check that each platform's binaries are built for
// that platform. Manifests and configs are read first (small); then every distinct layer is read
// once, streamed and verified against its digest, a few at a time; then each image's layers are
// stacked and its binaries checked. Nothing is written anywhere.
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import type { ConnectionOptions } from '../endpoint/open-endpoint.js';
import type { Descriptor } from '../image/descriptor.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { ImageConfig } from '../image/config.js';
import type { ImageManifest } from '../image/manifest.js';
import type { Platform } from '../platform/platform.js';
import type { Finding } from '../verify/finding.js';
import { PolyarchError, isPolyarchError } from '../errors/polyarch-error.js';
import { interruptible } from '../errors/interrupted.js';
import { parseImageConfig } from '../image/config.js';
import { parseImageIndex } from '../image/index.js';
import { parseImageManifest } from '../image/manifest.js';
import { MANIFEST_READS_AT_ONCE, mapConcurrent, readAllLimited } from '../internal/streams.js';
import { isDistributable, isImageManifest, isIndex } from '../mediatype/mediatype.js';
import { formatPlatform } from '../platform/platform.js';
import { checkBinaries } from '../verify/binary-check.js';
import { finding } from '../verify/finding.js';
import { configPlatform, entryLabel, isWellFormedPlatform, lintImage, lintIndexEntries, lintRequired } from '../verify/index-lint.js';
import { ImageFiles, scanLayerFiles, type LayerFiles } from '../verify/layer-files.js';
import { isAttestationEntry } from './select-platforms.js';
import { referenceOrLatest, toLocation, withOpener, type LocationInput } from './session.js';
import { bundleFileOf, readBundleManifest } from './bundle-manifest.js';

export type { Finding, Severity, VerifyRule } from '../verify/finding.js';

/** Configs are small JSON; refuse anything that is not (as inspect does). */
const MAX_CONFIG_SIZE = 4 * 1024 * 1024;
/** Paths recorded per layer and per image before the scan says it stopped (a tar bomb stays bounded). */
export const DEFAULT_MAX_PATHS = 200_000;
/**
 * Layers read at once: one per core (at least two, so one layer's download overlaps another's
 * decompression). Decompression is CPU-bound; on two cores a third layer in flight made a 629 MB
 * index 8% slower and held 10 MB more.
 */
const LAYER_CONCURRENCY = Math.min(8, Math.max(2, availableParallelism()));

/** What the checks are: shared by {@link verify} and {@link verifyImage}. */
export interface VerifyCheckOptions {
  /** Platforms that must be in the index (an image: its own platform). */
  readonly require?: readonly Platform[];
  /** Cap on the paths recorded per layer and per image (default DEFAULT_MAX_PATHS). */
  readonly maxPaths?: number;
  /** Stops the reads: the verb rejects with an `INTERRUPTED` PolyarchError. */
  readonly signal?: AbortSignal;
}

/** What {@link verify} takes: a location as the user writes it, the checks, and how to connect. */
export interface VerifyOptions extends VerifyCheckOptions, ConnectionOptions {
  /** `host/repo:tag`, `oci:DIR:tag`, `docker-archive:FILE`, … or a parsed `Location`; no tag means `latest`. */
  readonly location: LocationInput;
}

/** What {@link verifyImage} takes: an endpoint already open and the reference to check in it. */
export interface VerifyImageOptions extends VerifyCheckOptions {
  /** Where to read; the caller opens and closes it. */
  readonly endpoint: Endpoint;
  /** The tag or digest to check in `endpoint`. */
  readonly reference: string;
}

export interface VerifiedImage {
  readonly digest: string;
  readonly platform?: string;
  /** Paths the stacked layers hold (what the binary check looked through). */
  readonly paths: number;
}

export interface VerifyReport {
  readonly digest: string;
  readonly mediaType: string;
  readonly images: readonly VerifiedImage[];
  readonly findings: readonly Finding[];
  /** True when no finding is an error. */
  readonly passed: boolean;
}

interface ImageToCheck {
  readonly descriptor: Descriptor;
  readonly label: string;
  readonly manifest: ImageManifest;
  readonly config?: ImageConfig;
  /** The platform the binaries must fit: the index entry's, or the config's for a lone image. */
  readonly platform?: Platform;
}

function isNotFound(error: unknown): boolean {
  return isPolyarchError(error) && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'BLOB_UNKNOWN' || error.code === 'NOT_FOUND' || error.code === 'NAME_UNKNOWN');
}

async function readConfig(endpoint: Endpoint, manifest: ImageManifest, signal: AbortSignal | undefined): Promise<ImageConfig | undefined> {
  if (manifest.config.size > MAX_CONFIG_SIZE || !/json/.test(manifest.config.mediaType)) return undefined;
  const stream = await endpoint.openBlob(manifest.config, signal ? { signal } : {});
  return parseImageConfig(await readAllLimited(stream, MAX_CONFIG_SIZE, `config ${manifest.config.digest}`), `config ${manifest.config.digest}`);
}

/**
 * Lints what a reference names in an open endpoint, and checks that each platform's binaries are
 * built for that platform. Nothing is written anywhere.
 *
 * {@includeCode ../../examples/api/verifyImage.ts#example}
 */
export async function verifyImage(options: VerifyImageOptions): Promise<VerifyReport> {
  return interruptible(options.signal, () => verifyEndpoint(options));
}

async function verifyEndpoint(options: VerifyImageOptions): Promise<VerifyReport> {
  const { endpoint, reference } = options;
  const io = options.signal ? { signal: options.signal } : {};
  const maxPaths = options.maxPaths ?? DEFAULT_MAX_PATHS;
  const raw = await endpoint.getManifest(reference, io);
  const findings: Finding[] = [];
  const toCheck: ImageToCheck[] = [];
  const available: Platform[] = [];

  if (isIndex(raw.mediaType)) {
    const index = parseImageIndex(raw, `${endpoint.description}:${reference}`);
    findings.push(...lintIndexEntries(raw.mediaType, index.manifests, isAttestationEntry));
    const entries = index.manifests.filter((entry) => !isAttestationEntry(entry) && isImageManifest(entry.mediaType));
    // The entries' manifests and configs are read side by side: one after another, an index of
    // seven platforms on a remote registry waited fourteen round trips before its first layer.
    const read = await mapConcurrent(entries, MANIFEST_READS_AT_ONCE, async (entry) => {
      let manifest: ImageManifest;
      try {
        manifest = parseImageManifest(await endpoint.getManifest(entry.digest, io));
      } catch (error) {
        if (!isNotFound(error)) throw error;
        return undefined;
      }
      return { manifest, config: await readConfig(endpoint, manifest, options.signal) };
    });
    for (const [i, entry] of entries.entries()) {
      const label = entryLabel(entry);
      const found = read[i];
      if (!found) {
        findings.push(finding('error', 'missing-manifest', `entry ${entry.digest} is not in ${endpoint.description} (a sparse index)`, label));
        continue;
      }
      const { manifest, config } = found;
      findings.push(...lintImage(entry.mediaType, manifest, config, entry.platform, label));
      const usable = isWellFormedPlatform(entry.platform) && entry.platform.os && entry.platform.architecture && !(entry.platform.os === 'unknown' && entry.platform.architecture === 'unknown');
      if (usable) available.push(entry.platform as Platform);
      toCheck.push({ descriptor: entry, label, manifest, ...(config ? { config } : {}), ...(usable ? { platform: entry.platform as Platform } : {}) });
    }
  } else if (isImageManifest(raw.mediaType)) {
    const manifest = parseImageManifest(raw);
    const config = await readConfig(endpoint, manifest, options.signal);
    const platform = configPlatform(config);
    const label = platform ? formatPlatform(platform) : raw.digest;
    findings.push(...lintImage(raw.mediaType, manifest, config, undefined, label));
    if (platform) available.push(platform);
    toCheck.push({ descriptor: { mediaType: raw.mediaType, digest: raw.digest, size: raw.size }, label, manifest, ...(config ? { config } : {}), ...(platform ? { platform } : {}) });
  } else {
    throw new PolyarchError('UNSUPPORTED_MEDIA_TYPE', `${endpoint.description}:${reference}: media type ${raw.mediaType} is neither an index nor an image`);
  }
  findings.push(...lintRequired(available, options.require ?? []));

  // Every distinct layer once, whichever images share it.
  const layers = new Map<string, Descriptor>();
  for (const image of toCheck) if (image.platform) for (const layer of image.manifest.layers) layers.set(layer.digest, layer);
  const scans = new Map<string, LayerFiles | 'missing'>();
  const distinct = [...layers.values()];
  const results = await mapConcurrent(distinct, LAYER_CONCURRENCY, async (layer, _i, siblings) => {
    const signal = options.signal ? AbortSignal.any([options.signal, siblings]) : siblings;
    let stream: Readable;
    try {
      stream = await endpoint.openBlob(layer, { signal });
    } catch (error) {
      if (isNotFound(error)) return 'missing' as const;
      throw error;
    }
    return scanLayerFiles(stream, layer, { maxEntries: maxPaths, signal });
  });
  distinct.forEach((layer, i) => scans.set(layer.digest, results[i] as LayerFiles | 'missing'));

  const images: VerifiedImage[] = [];
  for (const image of toCheck) {
    if (!image.platform) continue;
    const files = new ImageFiles(maxPaths);
    let complete = true;
    for (const layer of image.manifest.layers) {
      const scan = scans.get(layer.digest);
      if (scan === 'missing' || scan === undefined) {
        complete = false;
        findings.push(
          isDistributable(layer.mediaType)
            ? finding('error', 'missing-layer', `layer ${layer.digest} is not in ${endpoint.description}`, image.label)
            : finding('info', 'missing-layer', `non-distributable layer ${layer.digest} is not stored here; binaries not checked`, image.label),
        );
        continue;
      }
      files.add(scan);
    }
    images.push({ digest: image.descriptor.digest, platform: formatPlatform(image.platform), paths: files.size });
    if (complete) findings.push(...checkBinaries({ platform: image.platform, files, ...(image.config ? { config: image.config } : {}) }));
  }
  return { digest: raw.digest, mediaType: raw.mediaType, images, findings, passed: !findings.some((f) => f.severity === 'error') };
}

/** What {@link verifyBundle} finds: each image a bundle archive lists, checked. */
export interface BundleVerifyReport {
  readonly file: string;
  readonly images: readonly { readonly image: string; readonly report: VerifyReport }[];
  /** True when no image has an error finding. */
  readonly passed: boolean;
}

/**
 * Checks every image of a bundle archive (`polyarch verify release-linux-arm64.tar`): each is
 * verified as `verify` verifies one image, read by the digest the bundle manifest gives it.
 * Undefined when the location is not a bundle archive (verify it as usual).
 */
export async function verifyBundle(options: VerifyCheckOptions & { readonly location: string }): Promise<BundleVerifyReport | undefined> {
  return interruptible(options.signal, async () => {
    const file = bundleFileOf(options.location);
    const manifest = file === undefined ? undefined : await readBundleManifest(file);
    if (file === undefined || !manifest) return undefined;
    // The signal reaches the archive's opening too (its headers are read, legacy layers hashed).
    return withOpener(options.signal ? { signal: options.signal } : {}, async (opener) => {
      const { endpoint } = await opener.open({ kind: manifest.format === 'docker' ? 'docker-archive' : 'oci-archive', path: file }, 'read');
      const images = [];
      for (const entry of manifest.images) images.push({ image: entry.image, report: await verifyEndpoint({ ...options, endpoint, reference: entry.digest }) });
      return { file, images, passed: images.every((i) => i.report.passed) };
    });
  });
}

/**
 * Lints an index (or image) at a location and checks that each platform's binaries are built for
 * that platform (`polyarch verify LOC`).
 *
 * {@includeCode ../../examples/api/verify.ts#example}
 */
export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  return interruptible(options.signal, () =>
    withOpener(options, async (opener) => {
      const { endpoint, reference } = await opener.open(toLocation(options.location), 'read');
      return verifyEndpoint({ ...options, endpoint, reference: referenceOrLatest(reference) });
    }),
  );
}
