// `manifest create|annotate|inspect|push|rm` with docker's flags and local store, so a list
// begun by either tool can be finished by the other. Where docker is wrong polyarch is right:
// architectures are normalized (with a notice), --amend never keeps a stale entry, and the
// entries may live in other registries than the list (their blobs are copied, not mounted).
import type { ConnectionOptions } from '../endpoint/open-endpoint.js';
import type { Descriptor } from '../image/descriptor.js';
import { isPlatformComponent, unknownPlatformReason, type Platform } from '../platform/platform.js';
import type { RawManifest } from '../image/raw-manifest.js';
import { openManifestListStore, storedEntryDocument, type StoredEntry } from '../endpoint/manifest-list-store.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { interruptible } from '../errors/interrupted.js';
import { buildIndex, parseImageIndex } from '../image/index.js';
import { descriptorOf } from '../image/descriptor.js';
import { MediaType, isImageManifest, isIndex } from '../mediatype/mediatype.js';
import { describeNormalization, normalizeArch, normalizePlatform } from '../platform/normalize.js';
import { samePlatform } from '../platform/match.js';
import { formatReference, parseReference, withDefaultTag, withDigest } from '../reference/reference.js';
import { checkDuplicatePlatforms, chooseFormat } from './assemble.js';
import { copyImage } from './copy.js';
import { withPlatform, type TransferListener } from '../progress/transfer.js';
import type { NoticeHandler } from './platform-input.js';
import { platformOfImage, resolveSourceImages } from './resolve-source.js';
import { referenceOrLatest, withOpener } from './session.js';

export type { StoredEntry };

/** What every `manifest*` verb shares: where the local lists live (`registryConfigDir`), how to connect, notices. */
export interface ManifestListOptions extends ConnectionOptions {
  /** Stops the verb: it rejects with an `INTERRUPTED` PolyarchError. */
  readonly signal?: AbortSignal;
  /** Receives one-line notices (normalized architectures, replaced entries). */
  readonly onNotice?: NoticeHandler;
}

/** A list or entry name as docker stores it: fully qualified, `:latest` added unless a digest is given. */
export function canonicalRef(text: string): string {
  return formatReference(withDefaultTag(parseReference(text)));
}

function storeOf(options: Pick<ManifestListOptions, 'registryConfigDir'>) {
  return openManifestListStore(options.registryConfigDir);
}

function noList(list: string): PolyarchError {
  return new PolyarchError('NOT_FOUND', `no local manifest list ${list} (create it with "manifest create")`);
}

async function requireList(list: string, options: ManifestListOptions): Promise<StoredEntry[]> {
  const entries = await storeOf(options).read(list);
  if (!entries) throw noList(list);
  return entries;
}

/** What {@link manifestCreate} takes. */
export interface ManifestCreateOptions extends ManifestListOptions {
  /** The list's name, `host/repo:tag` (docker's `manifest create LIST`). */
  readonly list: string;
  /** The images it lists, `host/repo:tag` or `@digest`, one per platform. */
  readonly images: readonly string[];
  /** Add to (or replace entries of) a list that exists already, instead of refusing. */
  readonly amend?: boolean;
}

/** The local list after {@link manifestCreate}. */
export interface ManifestCreateResult {
  /** The list's canonical name. */
  readonly list: string;
  /** Every entry the list holds now, old ones kept by `amend` included. */
  readonly entries: StoredEntry[];
}

/**
 * Records images in a local manifest list (docker's `manifest create`), each fetched now, never
 * from an older local copy. An index holding one image plus BuildKit attestations counts as that
 * image. With `amend`, an entry named again, or an older entry for a platform a new one covers,
 * is replaced.
 *
 * {@includeCode ../../examples/api/manifestCreate.ts#example}
 */
export async function manifestCreate(options: ManifestCreateOptions): Promise<ManifestCreateResult> {
  return interruptible(options.signal, () => createList(options));
}

async function createList(options: ManifestCreateOptions): Promise<ManifestCreateResult> {
  const { list: listRef, images: entryRefs } = options;
  const list = canonicalRef(listRef);
  const store = storeOf(options);
  const existing = await store.read(list);
  if (existing && !options.amend) {
    throw new PolyarchError('USAGE', `refusing to amend an existing manifest list with no --amend flag: ${list}`);
  }
  if (entryRefs.length === 0) throw new PolyarchError('USAGE', 'manifest create needs at least one image');
  const io = options.signal ? { signal: options.signal } : {};
  const fresh: StoredEntry[] = await withOpener(options, async (opener) => {
    const made: StoredEntry[] = [];
    for (const text of entryRefs) {
      const ref = canonicalRef(text);
      const { endpoint, reference } = await opener.open({ kind: 'registry', reference: parseReference(ref) }, 'read');
      const images = (await resolveSourceImages(endpoint, referenceOrLatest(reference), ref, { ...io, ...(options.onNotice ? { onNotice: options.onNotice } : {}) })).filter(
        (i) => !i.attestation,
      );
      if (images.length !== 1) throw new PolyarchError('USAGE', `${ref} is a manifest list of ${images.length} images; give one image per entry`);
      const image = images[0]!;
      made.push({ ref, descriptor: image.descriptor, raw: await endpoint.getManifest(image.descriptor.digest, io) });
    }
    return made;
  });
  checkDuplicatePlatforms(fresh.map((e) => ({ source: e.ref, descriptor: e.descriptor })));
  // --amend: nothing stale survives (docker#954 keeps the old bytes of an entry named again).
  for (const old of existing ?? []) {
    const replaced = fresh.find((e) => e.ref === old.ref || (e.descriptor.platform && old.descriptor.platform && samePlatform(e.descriptor.platform, old.descriptor.platform)));
    if (replaced) {
      await store.removeEntry(list, old.ref);
      if (old.ref !== replaced.ref || old.descriptor.digest !== replaced.descriptor.digest) options.onNotice?.(`replaced ${old.ref} (${old.descriptor.digest}) with ${replaced.ref} (${replaced.descriptor.digest})`);
    }
  }
  for (const entry of fresh) await store.write(list, entry);
  return { list, entries: (await store.read(list)) ?? [] };
}

/** What {@link manifestAnnotate} takes: the entry, and the platform fields to set on it. */
export interface ManifestAnnotateOptions extends ManifestListOptions {
  /** The local list's name. */
  readonly list: string;
  /** The entry to change, as it was named to `manifestCreate`. */
  readonly image: string;
  /** The operating system (`linux`, `windows`). */
  readonly os?: string;
  /** An alias (x86_64, aarch64, armhf) is normalized, with a notice. */
  readonly arch?: string;
  /** The CPU variant (`v7`, `v8`); dropped when the architecture changes and none is given. */
  readonly variant?: string;
  /** `os.version` (Windows builds). */
  readonly osVersion?: string;
  /** Added to the features already there. */
  readonly osFeatures?: readonly string[];
}

/** The platform after annotate's flags, before normalization. */
function annotatedPlatform(current: Platform, options: ManifestAnnotateOptions): Platform {
  const given: Platform = {
    ...current,
    ...(options.os ? { os: options.os } : {}),
    ...(options.arch ? { architecture: options.arch } : {}),
    ...(options.variant ? { variant: options.variant } : {}),
    ...(options.osVersion ? { 'os.version': options.osVersion } : {}),
    // docker adds each feature not already there
    ...(options.osFeatures?.length ? { 'os.features': [...new Set([...(current['os.features'] ?? []), ...options.osFeatures])] } : {}),
  };
  // A variant belongs to its architecture: a new one (arm64 → amd64) does not inherit the old variant.
  const archChanged = options.arch && normalizeArch(options.arch, undefined).architecture !== normalizeArch(current.architecture, undefined).architecture;
  if (archChanged && !options.variant) {
    const { variant: _old, ...rest } = given;
    return rest;
  }
  return given;
}

/**
 * Sets platform fields of one entry of a local list (docker's `manifest annotate`); aliases
 * (x86_64, aarch64, armhf) are normalized with a notice.
 *
 * {@includeCode ../../examples/api/manifestAnnotate.ts#example}
 */
export async function manifestAnnotate(options: ManifestAnnotateOptions): Promise<StoredEntry> {
  return interruptible(options.signal, () => annotateEntry(options));
}

async function annotateEntry(options: ManifestAnnotateOptions): Promise<StoredEntry> {
  const list = canonicalRef(options.list);
  const ref = canonicalRef(options.image);
  const entries = await requireList(list, options);
  const entry = entries.find((e) => e.ref === ref);
  if (!entry) throw new PolyarchError('NOT_FOUND', `manifest list ${list} has no entry ${ref} (it has ${entries.map((e) => e.ref).join(', ')})`);
  // As docker: what cannot be a platform is refused, not pushed ("unsupported os/arch combination").
  const refuse = (why: string) => new PolyarchError('INVALID_PLATFORM', `manifest annotate ${ref}: ${why}`);
  for (const [field, value] of [['os', options.os], ['architecture', options.arch], ['variant', options.variant]] as const) {
    if (value !== undefined && value !== '' && !isPlatformComponent(value)) throw refuse(`${field} ${JSON.stringify(value)} is not a valid component (letters, digits, "_", "." and "-" only)`);
  }
  const written = annotatedPlatform(entry.descriptor.platform ?? { os: '', architecture: '' }, options);
  const unknown = written.os && written.architecture ? unknownPlatformReason(written) : undefined;
  if (unknown) throw refuse(`${unknown}: not an os/architecture combination an engine pulls`);
  const plain = normalizePlatform(written);
  // As buildah does: a variant the user wrote stays even where containerd would drop it (arm64/v8).
  const platform = options.variant && !plain.variant ? { ...plain, variant: options.variant } : plain;
  const change = describeNormalization(written, platform);
  if (change) options.onNotice?.(`${ref}: ${change}`);
  const updated: StoredEntry = { ...entry, descriptor: { ...entry.descriptor, platform } };
  await storeOf(options).write(list, updated);
  return updated;
}

/** The list push would send: entries in docker's order (file names), format chosen from the children. */
export function buildLocalList(list: string, entries: readonly StoredEntry[]): RawManifest {
  for (const e of entries) {
    if (!e.descriptor.platform?.os || !e.descriptor.platform.architecture) {
      throw new PolyarchError('USAGE', `manifest list ${list}: entry ${e.ref} has no os/architecture; set them with "manifest annotate"`);
    }
  }
  const descriptors = entries.map((e) => e.descriptor);
  const format = chooseFormat(descriptors);
  return buildIndex(descriptors, { mediaType: format === 'docker' ? MediaType.DockerManifestList : MediaType.OciIndex });
}

/**
 * What `manifest inspect` prints, in docker's shapes: the manifest (or list) JSON; with
 * `verbose`, docker's entry documents (`Ref`, `Descriptor`, `Raw`, `SchemaV2Manifest`|`OCIManifest`),
 * one for an image, an array for a list.
 */
export type ManifestInspection =
  | { readonly kind: 'manifest'; readonly raw: RawManifest }
  | { readonly kind: 'verbose'; readonly list: boolean; readonly documents: readonly Record<string, unknown>[] };

/** What {@link manifestInspect} takes. */
export interface ManifestInspectOptions extends ManifestListOptions {
  /** A local list whose entry `image` is shown; without it, `image` is a local list or a registry's image. */
  readonly list?: string | undefined;
  /** The entry, local list, or registry image to show. */
  readonly image: string;
  /** docker's entry documents (`Ref`, `Descriptor`, `Raw`, …) instead of the manifest JSON. */
  readonly verbose?: boolean;
}

/**
 * Shows a manifest as docker's `manifest inspect [LIST] IMAGE` does: one entry of a local list;
 * else a local list (as push would send it); else the registry's image or list.
 *
 * {@includeCode ../../examples/api/manifestInspect.ts#example}
 */
export async function manifestInspect(options: ManifestInspectOptions): Promise<ManifestInspection> {
  return interruptible(options.signal, () => inspectList(options));
}

async function inspectList(options: ManifestInspectOptions): Promise<ManifestInspection> {
  const { list: listRef, image: ref } = options;
  const verbose = options.verbose === true;
  const shown = (entries: readonly StoredEntry[], list: boolean): ManifestInspection => ({ kind: 'verbose', list, documents: entries.map(storedEntryDocument) });
  if (listRef !== undefined) {
    const list = canonicalRef(listRef);
    const entries = await requireList(list, options);
    const entry = entries.find((e) => e.ref === canonicalRef(ref));
    if (!entry) throw new PolyarchError('NOT_FOUND', `manifest list ${list} has no entry ${canonicalRef(ref)}`);
    return verbose ? shown([entry], false) : { kind: 'manifest', raw: entry.raw };
  }
  const name = canonicalRef(ref);
  const local = await storeOf(options).read(name);
  if (local) return verbose ? shown(local, true) : { kind: 'manifest', raw: buildLocalList(name, local) };
  const io = options.signal ? { signal: options.signal } : {};
  return withOpener(options, async (opener) => {
    const target = parseReference(name);
    const { endpoint, reference } = await opener.open({ kind: 'registry', reference: target }, 'read');
    const raw = await endpoint.getManifest(referenceOrLatest(reference), io);
    if (!verbose) return { kind: 'manifest', raw };
    const named = (digest: RawManifest['digest']) => formatReference(withDigest(target, digest));
    if (isImageManifest(raw.mediaType)) {
      const platform = await platformOfImage(endpoint, raw, name, io);
      return shown([{ ref: name, raw, descriptor: descriptorOf(raw, platform ? { platform } : {}) }], false);
    }
    if (!isIndex(raw.mediaType)) return { kind: 'manifest', raw };
    const children: StoredEntry[] = [];
    for (const d of parseImageIndex(raw, name).manifests) {
      if (!isImageManifest(d.mediaType)) continue;
      const child = await endpoint.getManifest(d.digest, io);
      children.push({ ref: named(d.digest), raw: child, descriptor: { ...descriptorOf(child), ...(d.platform ? { platform: d.platform } : {}) } });
    }
    return shown(children, true);
  });
}

/** What {@link manifestPush} takes. */
export interface ManifestPushOptions extends ManifestListOptions {
  /** The local list to push, to the repository and tag its name gives. */
  readonly list: string;
  /** Delete the local list once it is pushed. */
  readonly purge?: boolean;
  /** Hears each blob copied into the list's repository as its bytes move. */
  readonly onProgress?: TransferListener;
}

/**
 * Pushes a local list (docker's `manifest push`): copies (or mounts) every entry into the list's
 * repository, pushes the list, returns its descriptor.
 *
 * {@includeCode ../../examples/api/manifestPush.ts#example}
 */
export async function manifestPush(options: ManifestPushOptions): Promise<Descriptor> {
  return interruptible(options.signal, () => pushList(options));
}

async function pushList(options: ManifestPushOptions): Promise<Descriptor> {
  const list = canonicalRef(options.list);
  const entries = await requireList(list, options);
  const raw = buildLocalList(list, entries);
  const io = options.signal ? { signal: options.signal } : {};
  const target = parseReference(list);
  await withOpener(options, async (opener) => {
    const { endpoint: destination } = await opener.open({ kind: 'registry', reference: target }, 'write');
    for (const entry of entries) {
      const { endpoint: source } = await opener.open({ kind: 'registry', reference: parseReference(entry.ref) }, 'read');
      await copyImage({
        source,
        sourceReference: entry.descriptor.digest,
        destination,
        ...io,
        ...(options.onProgress ? { onProgress: withPlatform(options.onProgress, entry.descriptor.platform) } : {}),
      });
    }
    await destination.putManifest(raw, { ...io, tag: target.tag ?? 'latest' });
  });
  if (options.purge) await storeOf(options).remove(list);
  return descriptorOf(raw);
}

/** What {@link manifestRemove} takes. */
export interface ManifestRemoveOptions extends Pick<ManifestListOptions, 'registryConfigDir' | 'signal'> {
  /** The local lists to delete; one that does not exist is named in the NOT_FOUND error, after the others are gone. */
  readonly lists: readonly string[];
}

/**
 * Deletes local lists (docker's `manifest rm`).
 *
 * {@includeCode ../../examples/api/manifestRemove.ts#example}
 */
export async function manifestRemove(options: ManifestRemoveOptions): Promise<void> {
  return interruptible(options.signal, async () => {
    const missing: string[] = [];
    for (const ref of options.lists) {
      options.signal?.throwIfAborted();
      if (!(await storeOf(options).remove(canonicalRef(ref)))) missing.push(canonicalRef(ref));
    }
    if (missing.length > 0) throw new PolyarchError('NOT_FOUND', `no local manifest list ${missing.join(', ')}`);
  });
}
