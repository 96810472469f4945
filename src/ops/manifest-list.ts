// `manifest create|annotate|inspect|push|rm` with docker's flags and local store, so a list
// begun by either tool can be finished by the other. Where docker is wrong polyarch is right:
// architectures are normalized (with a notice), --amend never keeps a stale entry, and the
// entries may live in other registries than the list (their blobs are copied, not mounted).
import type { ConnectionOptions } from '../endpoint/open-endpoint.js';
import type { Descriptor } from '../image/descriptor.js';
import type { Platform } from '../platform/platform.js';
import type { RawManifest } from '../image/raw-manifest.js';
import { openManifestListStore, type StoredEntry } from '../endpoint/manifest-list-store.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { buildIndex } from '../image/index.js';
import { descriptorOf } from '../image/descriptor.js';
import { MediaType } from '../mediatype/mediatype.js';
import { describeNormalization, normalizePlatform } from '../platform/normalize.js';
import { formatPlatform } from '../platform/platform.js';
import { formatReference, parseReference, withDefaultTag } from '../reference/reference.js';
import { checkDuplicatePlatforms, chooseFormat } from './assemble.js';
import { copyImage } from './copy.js';
import { inspectImage, type Inspection } from './inspect.js';
import { resolveSourceImages } from './resolve-source.js';
import { referenceOrLatest, withOpener } from './session.js';

export interface ManifestListOptions extends ConnectionOptions {
  readonly signal?: AbortSignal;
  /** Receives one-line notices (normalized architectures, replaced entries). */
  readonly onNotice?: (message: string) => void;
}

/** A list or entry name as docker stores it: fully qualified, `:latest` added. */
export function canonicalRef(text: string): string {
  return formatReference(withDefaultTag(parseReference(text)));
}

function storeOf(options: ManifestListOptions) {
  return openManifestListStore(options.registryConfigDir);
}

async function requireList(listRef: string, options: ManifestListOptions): Promise<StoredEntry[]> {
  const entries = await storeOf(options).read(canonicalRef(listRef));
  if (!entries) throw new PolyarchError('NOT_FOUND', `no local manifest list ${canonicalRef(listRef)} (create it with "manifest create")`, { badInput: true });
  return entries;
}

/** Fetches each entry image (an index holding one image, as buildx writes with attestations, counts as that image). */
export async function manifestCreate(listRef: string, entryRefs: readonly string[], options: ManifestListOptions & { amend?: boolean } = {}): Promise<{ list: string; entries: StoredEntry[] }> {
  const list = canonicalRef(listRef);
  const store = storeOf(options);
  const existing = await store.read(list);
  if (existing && !options.amend) {
    throw new PolyarchError('USAGE', `refusing to amend an existing manifest list with no --amend flag: ${list}`, { badInput: true });
  }
  if (entryRefs.length === 0) throw new PolyarchError('USAGE', 'manifest create needs at least one image');
  const io = options.signal ? { signal: options.signal } : {};
  const fresh: StoredEntry[] = await withOpener(options, async (opener) => {
    const made: StoredEntry[] = [];
    for (const text of entryRefs) {
      const ref = canonicalRef(text);
      const { endpoint, reference } = await opener.open({ kind: 'registry', reference: parseReference(ref) }, 'read');
      const images = (await resolveSourceImages(endpoint, referenceOrLatest(reference), ref, undefined, io)).filter((i) => !i.attestation);
      if (images.length !== 1) throw new PolyarchError('USAGE', `${ref} is a manifest list of ${images.length} images; give one image per entry`, { badInput: true });
      const image = images[0]!;
      made.push({ ref, descriptor: image.descriptor, raw: await endpoint.getManifest(image.descriptor.digest, io) });
    }
    return made;
  });
  checkDuplicatePlatforms(fresh.map((e) => ({ source: e.ref, descriptor: e.descriptor })));
  // --amend: an entry named again is replaced by what the registry holds now, and an old entry
  // for a platform a new one covers is dropped, so nothing stale is pushed.
  for (const old of existing ?? []) {
    const replaced = fresh.find((e) => e.ref === old.ref || (e.descriptor.platform && old.descriptor.platform && formatPlatform(normalizePlatform(e.descriptor.platform)) === formatPlatform(normalizePlatform(old.descriptor.platform))));
    if (replaced) {
      await store.removeEntry(list, old.ref);
      if (old.ref !== replaced.ref || old.descriptor.digest !== replaced.descriptor.digest) options.onNotice?.(`replaced ${old.ref} (${old.descriptor.digest}) with ${replaced.ref} (${replaced.descriptor.digest})`);
    }
  }
  for (const entry of fresh) await store.write(list, entry);
  return { list, entries: (await store.read(list)) ?? [] };
}

export interface AnnotateOptions extends ManifestListOptions {
  readonly os?: string;
  readonly arch?: string;
  readonly variant?: string;
  readonly osVersion?: string;
  readonly osFeatures?: readonly string[];
}

/** Sets platform fields of one entry; architecture aliases are normalized with a notice. */
export async function manifestAnnotate(listRef: string, entryRef: string, options: AnnotateOptions): Promise<StoredEntry> {
  const list = canonicalRef(listRef);
  const ref = canonicalRef(entryRef);
  const entries = await requireList(list, options);
  const entry = entries.find((e) => e.ref === ref);
  if (!entry) throw new PolyarchError('NOT_FOUND', `manifest list ${list} has no entry ${ref} (it has ${entries.map((e) => e.ref).join(', ')})`, { badInput: true });
  const current = entry.descriptor.platform ?? { os: '', architecture: '' };
  const given: Platform = {
    ...current,
    ...(options.os !== undefined ? { os: options.os } : {}),
    ...(options.arch !== undefined ? { architecture: options.arch } : {}),
    ...(options.variant !== undefined ? { variant: options.variant } : {}),
    ...(options.osVersion !== undefined ? { 'os.version': options.osVersion } : {}),
    ...(options.osFeatures !== undefined ? { 'os.features': [...new Set([...(current['os.features'] ?? []), ...options.osFeatures])] } : {}),
  };
  // A variant given alongside a new arch belongs to it; an old variant does not carry over.
  const withVariant = options.arch !== undefined && options.variant === undefined ? (({ variant: _drop, ...rest }) => rest)(given) : given;
  // As buildah does: a variant the user wrote stays even where containerd would drop it (arm64/v8).
  const plain = normalizePlatform(withVariant);
  const normalized = options.variant && !plain.variant ? { ...plain, variant: options.variant } : plain;
  const notice = describeNormalization(withVariant, normalized);
  if (notice) options.onNotice?.(`${ref}: ${notice}`);
  const updated: StoredEntry = { ...entry, descriptor: { ...entry.descriptor, platform: normalized } };
  await storeOf(options).write(list, updated);
  return updated;
}

/** The list push would send: entries in docker's order, format chosen from the children. */
export function buildLocalList(list: string, entries: readonly StoredEntry[]): RawManifest {
  for (const e of entries) {
    if (!e.descriptor.platform?.os || !e.descriptor.platform.architecture) {
      throw new PolyarchError('USAGE', `manifest list ${list}: entry ${e.ref} has no os/architecture; set them with "manifest annotate"`, { badInput: true });
    }
  }
  const descriptors = entries.map((e) => e.descriptor);
  const format = chooseFormat(descriptors, {});
  return buildIndex(descriptors, { mediaType: format === 'docker' ? MediaType.DockerManifestList : MediaType.OciIndex });
}

/** A local list (or one entry of it) as it would be pushed; without a local list, the registry's. */
export async function manifestInspect(listRef: string, entryRef: string | undefined, options: ManifestListOptions & { verbose?: boolean } = {}): Promise<RawManifest | Inspection> {
  const list = canonicalRef(listRef);
  const entries = await storeOf(options).read(list);
  if (entries) {
    if (entryRef === undefined) return buildLocalList(list, entries);
    const entry = entries.find((e) => e.ref === canonicalRef(entryRef));
    if (!entry) throw new PolyarchError('NOT_FOUND', `manifest list ${list} has no entry ${canonicalRef(entryRef)}`, { badInput: true });
    return entry.raw;
  }
  return withOpener(options, async (opener) => {
    const { endpoint, reference } = await opener.open({ kind: 'registry', reference: parseReference(entryRef ?? listRef) }, 'read');
    return inspectImage(endpoint, referenceOrLatest(reference), { ...(options.verbose ? { verbose: true } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  });
}

/** Copies (or mounts) every entry into the list's repository, pushes the list, returns its descriptor. */
export async function manifestPush(listRef: string, options: ManifestListOptions & { purge?: boolean } = {}): Promise<Descriptor> {
  const list = canonicalRef(listRef);
  const entries = await requireList(list, options);
  const raw = buildLocalList(list, entries);
  const io = options.signal ? { signal: options.signal } : {};
  const target = parseReference(list);
  await withOpener(options, async (opener) => {
    const { endpoint: destination } = await opener.open({ kind: 'registry', reference: target }, 'write');
    for (const entry of entries) {
      const { endpoint: source } = await opener.open({ kind: 'registry', reference: parseReference(entry.ref) }, 'read');
      await copyImage(source, entry.descriptor.digest, destination, undefined, io);
    }
    await destination.putManifest(raw, { ...io, tag: target.tag ?? 'latest' });
  });
  if (options.purge) await storeOf(options).remove(list);
  return descriptorOf(raw);
}

/** Deletes local lists (docker's `manifest rm`). */
export async function manifestRemove(listRefs: readonly string[], options: Pick<ManifestListOptions, 'registryConfigDir'> = {}): Promise<void> {
  const missing: string[] = [];
  for (const ref of listRefs) if (!(await storeOf(options).remove(canonicalRef(ref)))) missing.push(canonicalRef(ref));
  if (missing.length > 0) throw new PolyarchError('NOT_FOUND', `no local manifest list ${missing.join(', ')}`, { badInput: true });
}

