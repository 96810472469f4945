import type { ConnectionOptions } from '../endpoint/open-endpoint.js';
import type { Descriptor } from '../image/descriptor.js';
import type { Platform } from '../platform/platform.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { buildIndex, parseImageIndex } from '../image/index.js';
import { descriptorOf } from '../image/descriptor.js';
import { MediaType, isDockerMediaType, isIndex } from '../mediatype/mediatype.js';
import { formatPlatform, parsePlatform } from '../platform/platform.js';
import { samePlatform } from '../platform/match.js';
import { copyImage } from './copy.js';
import { resolveSourceImages, type SourceImage } from './resolve-source.js';
import { referenceOrLatest, toLocation, withOpener } from './session.js';

export type IndexFormat = 'oci' | 'docker';

export interface AssembleOptions {
  /** Default: a Docker list when every child is a Docker manifest, else an OCI index. */
  readonly format?: IndexFormat;
  /** Allow Docker and OCI children in one index (refused by default: some registries reject it). */
  readonly allowMixed?: boolean;
  /** Keep the existing entries of the first target and add the sources to them. */
  readonly append?: boolean;
  /** BuildKit attestation entries of index sources: kept next to their image (default) or dropped. */
  readonly attestations?: 'keep' | 'drop';
  readonly annotations?: Readonly<Record<string, string>>;
  readonly descriptorAnnotations?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

export interface AssembleResult {
  readonly descriptor: Descriptor;
  readonly targets: readonly string[];
  readonly entries: readonly Descriptor[];
}

/** `SOURCE[,platform=os/arch[/variant]]`: a location, optionally with the platform to record. */
export interface SourceSpec {
  readonly location: string;
  readonly platform?: Platform;
}

export function parseSourceSpec(text: string): SourceSpec {
  const parts = text.split(',');
  const location = parts[0] ?? '';
  let platform: Platform | undefined;
  for (const option of parts.slice(1)) {
    const eq = option.indexOf('=');
    const key = option.slice(0, eq).trim();
    if (eq < 0 || key !== 'platform') throw new PolyarchError('USAGE', `cannot parse source "${text}": unknown option "${option}" (only platform=os/arch[/variant])`);
    platform = parsePlatform(option.slice(eq + 1).trim());
  }
  if (location === '') throw new PolyarchError('USAGE', `cannot parse source "${text}": no location`);
  return platform ? { location, platform } : { location };
}

/** The index format for these children, refusing a Docker list that would hold OCI content. */
export function chooseFormat(children: readonly Descriptor[], options: Pick<AssembleOptions, 'format' | 'allowMixed' | 'annotations'>): IndexFormat {
  const docker = children.filter((d) => isDockerMediaType(d.mediaType)).length;
  const mixed = docker > 0 && docker < children.length;
  if (mixed && !options.allowMixed) {
    const example = children.find((d) => !isDockerMediaType(d.mediaType));
    throw new PolyarchError('USAGE', `the sources mix Docker and OCI manifests (e.g. ${example?.digest}); convert them or allow a mixed index`, { badInput: true });
  }
  const format = options.format ?? (docker === children.length && children.length > 0 && !options.annotations ? 'docker' : 'oci');
  if (format === 'docker' && options.annotations && Object.keys(options.annotations).length > 0) {
    throw new PolyarchError('USAGE', 'a Docker manifest list cannot carry index annotations; use --format oci', { badInput: true });
  }
  return format;
}

/** Two images for one platform make an index whose choice depends on order: refuse, naming both. */
export function checkDuplicatePlatforms(images: readonly { readonly source: string; readonly descriptor: Descriptor; readonly attestation?: boolean }[]): void {
  const real = images.filter((i) => !i.attestation && i.descriptor.platform);
  for (let i = 0; i < real.length; i++) {
    for (let j = i + 1; j < real.length; j++) {
      const a = real[i]!;
      const b = real[j]!;
      if (a.descriptor.digest !== b.descriptor.digest && samePlatform(a.descriptor.platform!, b.descriptor.platform!)) {
        throw new PolyarchError('USAGE', `two sources have platform ${formatPlatform(a.descriptor.platform!)}: ${a.source} and ${b.source}`, { badInput: true });
      }
    }
  }
}

/**
 * `index create`: one index over images from anywhere (registries, indexes, layouts, archives),
 * their content copied (or mounted, within one registry) into every target, then the index
 * pushed to each target tag.
 */
export async function assembleIndex(sources: readonly (string | SourceSpec)[], targets: readonly string[], options: AssembleOptions & ConnectionOptions = {}): Promise<AssembleResult> {
  if (targets.length === 0) throw new PolyarchError('USAGE', 'index create needs at least one target (-t)');
  if (sources.length === 0 && !options.append) throw new PolyarchError('USAGE', 'index create needs at least one source');
  const io = options.signal ? { signal: options.signal } : {};
  const specs = sources.map((s) => (typeof s === 'string' ? parseSourceSpec(s) : s));
  const targetLocations = targets.map((t) => toLocation(t));
  return withOpener(options, async (opener) => {
    const images: SourceImage[] = [];
    for (const spec of specs) {
      const { endpoint, reference } = await opener.open(toLocation(spec.location), 'read');
      images.push(...(await resolveSourceImages(endpoint, referenceOrLatest(reference), spec.location, spec.platform, io)));
    }
    const opened = await Promise.all(targetLocations.map((l) => opener.open(l, 'write')));
    let existing: Descriptor[] = [];
    if (options.append) {
      const first = opened[0]!;
      const current = await first.endpoint.getManifest(referenceOrLatest(first.reference), io);
      if (!isIndex(current.mediaType)) throw new PolyarchError('USAGE', `--append: ${targets[0]} is not an index`, { badInput: true });
      existing = [...parseImageIndex(current).manifests];
    }
    const kept = images.filter((i) => !(i.attestation && options.attestations === 'drop'));
    checkDuplicatePlatforms([...existing.map((d) => ({ source: `${targets[0]} (existing entry)`, descriptor: d })), ...kept]);
    const annotate = (d: Descriptor): Descriptor =>
      options.descriptorAnnotations && !d.annotations?.['vnd.docker.reference.type'] ? { ...d, annotations: { ...d.annotations, ...options.descriptorAnnotations } } : d;
    const entries = [...existing, ...kept.map((i) => annotate(i.descriptor))].filter((d, i, all) => all.findIndex((o) => o.digest === d.digest) === i);
    const format = chooseFormat(entries, options);
    const index = buildIndex(entries, {
      mediaType: format === 'docker' ? MediaType.DockerManifestList : MediaType.OciIndex,
      ...(options.annotations && Object.keys(options.annotations).length > 0 ? { annotations: options.annotations } : {}),
    });
    for (const target of opened) {
      for (const image of kept) await copyImage(image.endpoint, image.descriptor.digest, target.endpoint, undefined, io);
      await target.endpoint.putManifest(index, { ...io, tag: referenceOrLatest(target.reference) });
      await target.endpoint.close(io);
    }
    return { descriptor: descriptorOf(index), targets, entries };
  });
}

