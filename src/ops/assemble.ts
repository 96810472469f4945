import type { ConnectionOptions, OpenedLocation } from '../endpoint/open-endpoint.js';
import type { Descriptor } from '../image/descriptor.js';
import type { ImageIndex } from '../image/index.js';
import type { Platform } from '../platform/platform.js';
import { PolyarchError, isPolyarchError } from '../errors/polyarch-error.js';
import { interruptible } from '../errors/interrupted.js';
import { buildIndex, parseImageIndex } from '../image/index.js';
import { descriptorOf } from '../image/descriptor.js';
import { MediaType, isDockerMediaType, isIndex } from '../mediatype/mediatype.js';
import { formatPlatform } from '../platform/platform.js';
import { samePlatform } from '../platform/match.js';
import { copyImage } from './copy.js';
import { withPlatform, type TransferListener } from '../progress/transfer.js';
import { platformAsWritten, type NoticeHandler } from './platform-input.js';
import { resolveSourceImages, type SourceImage } from './resolve-source.js';
import { isAttestationEntry } from './select-platforms.js';
import { referenceOrLatest, toLocation, withOpener } from './session.js';

export type IndexFormat = 'oci' | 'docker';

/** What {@link assembleIndex} takes: the images, where the index goes, and how it is made. */
export interface AssembleOptions extends ConnectionOptions {
  /** The images: locations (`host/repo:tag`, `oci:DIR:tag`, …, optionally `,platform=os/arch`) or parsed {@link SourceSpec}s. An index source adds all its images. */
  readonly sources: readonly (string | SourceSpec)[];
  /** Where the index is pushed, one or more locations (each gets the images' content too). */
  readonly targets: readonly string[];
  /** Default: a Docker list when every image is a Docker manifest (and nothing needs OCI), else an OCI index. */
  readonly format?: IndexFormat;
  /** Allow Docker and OCI children in one index (refused by default: some registries reject it). */
  readonly allowMixed?: boolean;
  /** Keep the entries (and annotations) of the index at the first target and add the sources to them. */
  readonly append?: boolean;
  /** BuildKit attestation entries of index sources: kept next to their image (default) or dropped. */
  readonly attestations?: 'keep' | 'drop';
  /** Annotations of the index itself (they make it an OCI index). */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Annotations added to every image entry of the index. */
  readonly descriptorAnnotations?: Readonly<Record<string, string>>;
  /** Skip sources that do not exist, with a notice (manifest-tool's --ignore-missing). */
  readonly ignoreMissing?: boolean;
  /** Hears what normalization changed in a platform, and skipped sources. */
  readonly onNotice?: NoticeHandler;
  /** Hears each blob copied into a target as its bytes move (phase `copy`). */
  readonly onProgress?: TransferListener;
  /** Stops the assembly: an archive target is not left half-written, and the verb rejects with `INTERRUPTED`. */
  readonly signal?: AbortSignal;
}

export interface AssembleResult {
  /** The index pushed. */
  readonly descriptor: Descriptor;
  /** The targets, as given. */
  readonly targets: readonly string[];
  /** The index's entries, in order. */
  readonly entries: readonly Descriptor[];
}

/** `SOURCE[,platform=os/arch[/variant]]`: a location, optionally with the platform to record. */
export interface SourceSpec {
  readonly location: string;
  /** As the user wrote it; normalized (with a notice) when the index is assembled. */
  readonly platform?: Platform;
  /** Fill the given platform's empty variant, os.version and os.features from the config (manifest-tool). */
  readonly completeFromConfig?: boolean;
}

/** Parses `LOCATION[,platform=os/arch[/variant]]`, a source of `index create`, into a {@link SourceSpec}. */
export function parseSourceSpec(text: string): SourceSpec {
  const parts = text.split(',');
  const location = parts[0] ?? '';
  let platform: Platform | undefined;
  for (const option of parts.slice(1)) {
    const eq = option.indexOf('=');
    const key = option.slice(0, eq).trim();
    if (eq < 0 || key !== 'platform') throw new PolyarchError('USAGE', `cannot parse source "${text}": unknown option "${option}" (only platform=os/arch[/variant])`);
    platform = platformAsWritten(option.slice(eq + 1).trim());
  }
  if (location === '') throw new PolyarchError('USAGE', `cannot parse source "${text}": no location`);
  return platform ? { location, platform } : { location };
}

/**
 * The index format for these children. An OCI index may list Docker manifests, so mixed images
 * get one (with a notice: Quay rejects that); a Docker list holding OCI manifests is refused
 * unless `allowMixed`.
 */
export function chooseFormat(
  children: readonly Descriptor[],
  options: Pick<AssembleOptions, 'format' | 'allowMixed' | 'annotations' | 'onNotice'> & { readonly current?: IndexFormat } = {},
): IndexFormat {
  const images = children.filter((d) => !isAttestationEntry(d));
  const docker = images.filter((d) => isDockerMediaType(d.mediaType)).length;
  const annotated = options.annotations !== undefined && Object.keys(options.annotations).length > 0;
  // Attestations are OCI manifests that only an OCI index describes properly.
  const needsOci = annotated || images.length < children.length || docker < images.length || images.length === 0;
  if (options.format !== undefined && options.format !== 'oci' && options.format !== 'docker') throw new PolyarchError('USAGE', `index format ${JSON.stringify(options.format)} is neither oci nor docker`);
  const format = options.format ?? (needsOci ? 'oci' : (options.current ?? 'docker'));
  if (format === 'docker' && annotated) {
    throw new PolyarchError('USAGE', "a Docker manifest list cannot carry index annotations; use --format oci (format: 'oci')");
  }
  const oci = children.find((d) => !isDockerMediaType(d.mediaType));
  if (format === 'docker' && oci && !options.allowMixed) {
    throw new PolyarchError('USAGE', `a Docker manifest list cannot hold the OCI manifest ${oci.digest}; use --format oci (format: 'oci'), or --allow-mixed (allowMixed) to write the mixed list anyway`);
  }
  if (docker > 0 && docker < images.length) {
    options.onNotice?.(`the index mixes Docker and OCI image manifests (${docker} Docker, ${images.length - docker} OCI); most registries accept that, Quay does not`);
  }
  return format;
}

/** Two images for one platform make an index whose choice depends on order: refuse, naming both. */
export function checkDuplicatePlatforms(images: readonly { readonly source: string; readonly descriptor: Descriptor; readonly attestation?: boolean }[]): void {
  const real = images.filter((i) => !i.attestation && !isAttestationEntry(i.descriptor) && i.descriptor.platform);
  for (let i = 0; i < real.length; i++) {
    for (let j = i + 1; j < real.length; j++) {
      const a = real[i]!;
      const b = real[j]!;
      if (a.descriptor.digest !== b.descriptor.digest && samePlatform(a.descriptor.platform!, b.descriptor.platform!)) {
        throw new PolyarchError('USAGE', `two sources have platform ${formatPlatform(a.descriptor.platform!)}: ${a.source} and ${b.source}`);
      }
    }
  }
}

/** The index at the first target, for --append (nothing there yet is an empty start). */
async function readExisting(target: OpenedLocation, name: string, io: { signal?: AbortSignal }): Promise<ImageIndex | undefined> {
  let raw;
  try {
    raw = await target.endpoint.getManifest(referenceOrLatest(target.reference), io);
  } catch (error) {
    if (isPolyarchError(error) && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'NOT_FOUND' || error.code === 'NAME_UNKNOWN')) return undefined;
    throw error;
  }
  if (!isIndex(raw.mediaType)) throw new PolyarchError('USAGE', `--append (append): ${name} is an image, not an index`);
  return parseImageIndex(raw, name);
}

/**
 * Assembles one index over images from anywhere (`polyarch index create`): registries, indexes,
 * layouts, archives. Their content is copied (or mounted, within one registry) into every target,
 * then the index is pushed to each target tag.
 *
 * {@includeCode ../../examples/api/assembleIndex.ts#example}
 */
export async function assembleIndex(options: AssembleOptions): Promise<AssembleResult> {
  return interruptible(options.signal, () => assemble(options));
}

async function assemble(options: AssembleOptions): Promise<AssembleResult> {
  const { sources, targets } = options;
  if (targets.length === 0) throw new PolyarchError('USAGE', 'index create needs at least one target (-t)');
  if (sources.length === 0 && !options.append) throw new PolyarchError('USAGE', 'index create needs at least one source');
  const io = options.signal ? { signal: options.signal } : {};
  const specs = sources.map((s) => (typeof s === 'string' ? parseSourceSpec(s) : s));
  const targetLocations = targets.map((t) => toLocation(t));
  // Found before anything moves: an index has nowhere to go in a docker archive (images only, one per tag).
  const archive = targetLocations.find((l) => l.kind === 'docker-archive');
  if (archive) throw new PolyarchError('USAGE', `docker-archive:${archive.path}: a docker archive holds images, not an index; write oci-archive:FILE or oci:DIR, or copy one platform's image there with polyarch copy --platform`);
  return withOpener(options, async (opener) => {
    const images: SourceImage[] = [];
    for (const spec of specs) {
      const { endpoint, reference } = await opener.open(toLocation(spec.location), 'read');
      try {
        images.push(
          ...(await resolveSourceImages(endpoint, referenceOrLatest(reference), spec.location, {
            ...io,
            ...(spec.platform ? { platform: spec.platform } : {}),
            ...(spec.completeFromConfig ? { completeFromConfig: true } : {}),
            ...(options.onNotice ? { onNotice: options.onNotice } : {}),
          })),
        );
      } catch (error) {
        if (!(options.ignoreMissing && isPolyarchError(error) && error.code === 'MANIFEST_UNKNOWN')) throw error;
        options.onNotice?.(`skipped ${spec.location}: it does not exist`);
      }
    }
    if (images.length === 0 && specs.length > 0) throw new PolyarchError('MANIFEST_UNKNOWN', 'none of the sources exist; no index to push');
    const opened = await Promise.all(targetLocations.map((l) => opener.open(l, 'write')));
    const first = opened[0]!;
    const existing = options.append ? await readExisting(first, targets[0]!, io) : undefined;
    const kept = images.filter((i) => !(i.attestation && options.attestations === 'drop'));
    const old = existing?.manifests ?? [];
    checkDuplicatePlatforms([...old.map((d) => ({ source: `${targets[0]} (existing entry)`, descriptor: d })), ...kept]);
    const annotate = (d: Descriptor): Descriptor =>
      options.descriptorAnnotations && !isAttestationEntry(d) ? { ...d, annotations: { ...d.annotations, ...options.descriptorAnnotations } } : d;
    const entries = [...old, ...kept.map((i) => annotate(i.descriptor))].filter((d, i, all) => all.findIndex((o) => o.digest === d.digest) === i);
    const annotations = { ...existing?.annotations, ...options.annotations };
    const format = chooseFormat(entries, {
      ...options,
      annotations,
      ...(existing ? { current: existing.raw.mediaType === MediaType.DockerManifestList ? 'docker' : 'oci' } : {}),
    });
    const index = buildIndex(entries, {
      mediaType: format === 'docker' ? MediaType.DockerManifestList : MediaType.OciIndex,
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    });
    // Each image is copied by its digest: its blobs report under the platform its entry records.
    const listener = options.onProgress;
    const copying = (platform: Platform | undefined) => ({ ...io, ...(listener ? { onProgress: withPlatform(listener, platform) } : {}) });
    try {
      for (const target of opened) {
        for (const image of kept) await copyImage({ source: image.endpoint, sourceReference: image.descriptor.digest, destination: target.endpoint, ...copying(image.descriptor.platform) });
        // Appended-to entries already live at the first target; the others need them too.
        if (target !== first) for (const d of old) await copyImage({ source: first.endpoint, sourceReference: d.digest, destination: target.endpoint, ...copying(d.platform) });
        await target.endpoint.putManifest(index, { ...io, tag: referenceOrLatest(target.reference) });
      }
    } catch (error) {
      // An archive target must not appear half-written.
      await Promise.allSettled(opened.map((t) => t.endpoint.close({ discard: true })));
      throw error;
    }
    for (const target of opened) await target.endpoint.close(io);
    return { descriptor: descriptorOf(index), targets, entries };
  });
}
