// `docker-archive:FILE.tar[:REPO:TAG]`: the `docker save` / `docker load` tarball.
// Reads both forms: docker ≥25 (an OCI layout beside manifest.json, so the original manifest and
// its digest survive) and the legacy form (manifest.json + `<id>/layer.tar`), for which a
// schema-2 manifest is made from the files as stored. Writes both forms at once, atomically, on
// close(). https://github.com/moby/moby/blob/master/image/tarexport/save.go
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { createDigester, digestFromHash, isDigest, shortDigest, type Digest } from '../digest/digest.js';
import { verifiedStream } from '../digest/verify-stream.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { descriptorOf, type Descriptor } from '../image/descriptor.js';
import { parseImageIndex } from '../image/index.js';
import { parseImageManifest, type ImageManifest } from '../image/manifest.js';
import { MAX_MANIFEST_SIZE, rawFromJson, type RawManifest } from '../image/raw-manifest.js';
import { tempPathIn } from '../internal/temp-path.js';
import { isImageManifest, isIndex, MediaType } from '../mediatype/mediatype.js';
import { familiarName, familiarString, parseReference, withDefaultTag } from '../reference/reference.js';
import { writeFileAtomic } from './atomic-write.js';
import { BlobStore } from './blob-store.js';
import { removeOrphanStaging } from './gc.js';
import { CONTAINERD_NAME, normalizedName, REF_NAME } from './index-entries.js';
import { LAYOUT_HEADER } from './oci-layout.js';
import { indexTar, readEntry, streamEntry, type TarEntry } from './tar-index.js';
import { blobEntryName, readVerified, TarLayoutReader } from './tar-layout.js';
import { writeTarAtomic } from './tar-write.js';
import { makeDirectories } from '../internal/make-directories.js';
import { checkDestinationKind } from './destination.js';

type Io = { readonly signal?: AbortSignal };

/** One `manifest.json` item (moby image/tarexport: manifestItem). */
interface SavedImage {
  readonly Config: string;
  readonly RepoTags?: readonly string[] | null;
  readonly Layers: readonly string[];
}

interface ArchivedImage {
  readonly manifest: RawManifest;
  repoTags: string[];
}

/** A name as docker prints it in RepoTags (`team/app:1`, `nginx:latest`); undefined when it does not parse. */
function familiarTagged(name: string): string | undefined {
  try {
    return familiarString(withDefaultTag(parseReference(name)));
  } catch {
    return undefined;
  }
}

/** `team/app:1` and `docker.io/team/app:1` name the same image. */
function sameName(a: string, b: string): boolean {
  const na = normalizedName(a);
  return na !== undefined ? na === normalizedName(b) : a === b;
}

export class DockerArchive {
  readonly kind = 'docker-archive' as const;
  readonly description: string;
  readonly #file: string;
  // Reading
  readonly #images: readonly ArchivedImage[];
  readonly #blobs: ReadonlyMap<string, TarEntry>;
  // Writing
  readonly #staging: BlobStore | undefined;
  readonly #reference: string | undefined;
  readonly #written: ArchivedImage[] = [];
  #closed = false;

  constructor(file: string, init: { images?: ArchivedImage[]; blobs?: Map<string, TarEntry>; staging?: BlobStore; reference?: string }) {
    this.#file = file;
    this.description = `docker-archive:${file}`;
    this.#images = init.images ?? [];
    this.#blobs = init.blobs ?? new Map();
    this.#staging = init.staging;
    this.#reference = init.reference;
  }

  #all(): readonly ArchivedImage[] {
    return this.#staging ? this.#written : this.#images;
  }

  /** By digest, by a name in RepoTags, or (one image, `latest` or nothing asked) the only image. */
  #find(reference: string): ArchivedImage | undefined {
    const images = this.#all();
    if (isDigest(reference)) return images.find((i) => i.manifest.digest === reference);
    const named = images.find((i) => i.repoTags.some((t) => sameName(t, reference)));
    if (named) return named;
    // `docker-archive:FILE` with one image means that image, whatever its tag (skopeo does the same).
    return images.length === 1 && (reference === 'latest' || reference === '') ? images[0] : undefined;
  }

  async resolve(reference: string, options: Io = {}): Promise<Descriptor | undefined> {
    void options;
    const image = this.#find(reference);
    return image ? descriptorOf(image.manifest) : undefined;
  }

  async getManifest(reference: string, options: Io = {}): Promise<RawManifest> {
    void options;
    const image = this.#find(reference);
    if (!image) {
      const names = this.#all().flatMap((i) => i.repoTags);
      const holds = names.length ? ` (it holds ${names.join(', ')})` : this.#all().length > 1 ? ` (it holds ${this.#all().length} untagged images)` : '';
      throw new PolyarchError('MANIFEST_UNKNOWN', `${this.description}: no image "${reference}"${holds}`);
    }
    return image.manifest;
  }

  /**
   * Records an image for close(). Its name in RepoTags: `tag` when it is a full name
   * (`repo:tag`), else the location's name (with `tag` as its tag when one is given).
   */
  async putManifest(manifest: RawManifest, options: Io & { readonly tag?: string } = {}): Promise<void> {
    const staging = this.#writable();
    if (isIndex(manifest.mediaType)) {
      throw new PolyarchError('USAGE', `${this.description}: docker-archive holds one platform per image; choose one with --platform (platforms)`);
    }
    parseImageManifest(manifest, `manifest ${manifest.digest}`);
    await staging.putBytes(manifest.digest, manifest.bytes);
    const name = this.#nameFor(options.tag);
    // A name points at one image, as in docker's image store.
    if (name !== undefined) for (const image of this.#written) image.repoTags = image.repoTags.filter((t) => !sameName(t, name));
    const existing = this.#written.find((i) => i.manifest.digest === manifest.digest);
    if (existing) {
      if (name !== undefined) existing.repoTags.push(name);
    } else {
      this.#written.push({ manifest, repoTags: name !== undefined ? [name] : [] });
    }
  }

  #nameFor(tag: string | undefined): string | undefined {
    if (tag !== undefined && !isDigest(tag) && (tag.includes(':') || tag.includes('/'))) return familiarTagged(tag);
    if (this.#reference === undefined) return undefined;
    if (tag === undefined || isDigest(tag) || tag === '') return this.#reference;
    try {
      return familiarString({ ...parseReference(this.#reference), tag });
    } catch {
      return this.#reference;
    }
  }

  async deleteManifest(reference: string): Promise<void> {
    throw new PolyarchError('UNSUPPORTED', `${this.description}: cannot delete "${reference}" from a docker archive`);
  }

  async hasBlob(descriptor: Descriptor, options: Io = {}): Promise<boolean> {
    void options;
    return this.#staging ? this.#staging.has(descriptor.digest) : this.#blobs.has(descriptor.digest);
  }

  async openBlob(descriptor: Descriptor, options: Io = {}): Promise<Readable> {
    if (this.#staging) return this.#staging.open(descriptor, options);
    const entry = this.#blobs.get(descriptor.digest);
    if (!entry) throw new PolyarchError('BLOB_UNKNOWN', `${this.description}: blob ${descriptor.digest} is not in the archive`);
    const what = `blob ${shortDigest(descriptor.digest)} in ${this.description}`;
    return verifiedStream(streamEntry(this.#file, entry, options), { digest: descriptor.digest, size: descriptor.size, what });
  }

  async putBlob(descriptor: Descriptor, content: Readable, options: Io = {}): Promise<void> {
    let staging: BlobStore;
    try {
      staging = this.#writable();
    } catch (error) {
      content.destroy();
      throw error;
    }
    await staging.put(descriptor, content, options);
  }

  async listTags(options: Io = {}): Promise<string[]> {
    void options;
    return [...new Set(this.#all().flatMap((i) => i.repoTags))].sort();
  }

  /**
   * Writing: the tar (manifest.json, repositories, then the OCI layout parts) goes to a temp file
   * and is renamed into place. With `discard`, or on failure, nothing appears.
   */
  async close(options: Io & { readonly discard?: boolean } = {}): Promise<void> {
    if (this.#closed || !this.#staging) return;
    this.#closed = true;
    const root = this.#staging.root;
    try {
      if (!options.discard) {
        if (this.#written.length === 0) throw new PolyarchError('USAGE', `${this.description}: no image was written, so no archive is made`);
        await this.#writeMetadata(root);
        const blobs = new Set<string>();
        for (const { manifest } of this.#written) {
          const parsed = parseImageManifest(manifest);
          for (const d of [manifest, parsed.config, ...parsed.layers]) blobs.add(blobEntryName(d.digest));
        }
        await writeTarAtomic(this.#file, root, ['manifest.json', 'repositories', 'oci-layout', 'index.json', ...[...blobs].sort()], options.signal ? { signal: options.signal } : {});
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }

  /** manifest.json and repositories for `docker load`; oci-layout and index.json for OCI readers. */
  async #writeMetadata(root: string): Promise<void> {
    for (const file of dockerArchiveMetadata(this.#written)) await writeFileAtomic(join(root, file.name), file.bytes);
  }

  #writable(): BlobStore {
    if (!this.#staging || this.#closed) throw new PolyarchError('USAGE', `${this.description} is not open for writing`);
    return this.#staging;
  }
}

/** An image as a docker archive holds it: its manifest and the names `docker load` gives it. */
export interface DockerArchiveImage {
  readonly manifest: RawManifest;
  readonly repoTags: readonly string[];
}

/**
 * The metadata files of a docker ≥25 archive holding `images`, in the order they go first in the
 * tar: manifest.json and repositories for `docker load`, oci-layout and index.json for OCI readers.
 * Blobs go under `blobs/sha256/` (blobEntryName), each once however many images share it.
 */
export function dockerArchiveMetadata(images: readonly DockerArchiveImage[]): { readonly name: string; readonly bytes: Buffer }[] {
  const saved: SavedImage[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const index: Descriptor[] = [];
  for (const { manifest, repoTags } of images) {
    const parsed = parseImageManifest(manifest);
    // Layers stay as pushed (usually gzip): `docker load` decompresses what it is given.
    saved.push({ Config: blobEntryName(parsed.config.digest), RepoTags: [...repoTags], Layers: parsed.layers.map((l) => blobEntryName(l.digest)) });
    for (const name of repoTags) {
      const ref = withDefaultTag(parseReference(name));
      const tag = ref.tag ?? 'latest';
      // Legacy: the top layer's id. Only ever read by very old docker; the blob name serves.
      (repositories[familiarName(ref)] ??= {})[tag] = (parsed.layers.at(-1)?.digest ?? parsed.config.digest).slice(7);
      index.push(descriptorOf(manifest, { annotations: { [CONTAINERD_NAME]: `${ref.registry}/${ref.repository}:${tag}`, [REF_NAME]: tag } }));
    }
    if (repoTags.length === 0) index.push(descriptorOf(manifest));
  }
  return [
    { name: 'manifest.json', bytes: Buffer.from(JSON.stringify(saved)) },
    { name: 'repositories', bytes: Buffer.from(JSON.stringify(repositories)) },
    { name: 'oci-layout', bytes: Buffer.from(LAYOUT_HEADER) },
    { name: 'index.json', bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: index })) },
  ];
}

/** Streams a tar entry once to learn its digest. */
async function digestOfEntry(file: string, entry: TarEntry, signal: AbortSignal | undefined): Promise<Digest> {
  const hash = createDigester('sha256');
  for await (const chunk of streamEntry(file, entry, signal ? { signal } : {})) hash.update(chunk as Buffer);
  return digestFromHash(hash, 'sha256');
}

async function isGzip(file: string, entry: TarEntry): Promise<boolean> {
  if (entry.size < 2) return false;
  const head = await readEntry(file, { offset: entry.offset, size: 2 }, 2);
  return head[0] === 0x1f && head[1] === 0x8b;
}

/** The image manifests the OCI part of a docker ≥25 archive holds (through indexes, as the containerd store saves them). */
async function ociManifests(layout: TarLayoutReader | undefined): Promise<RawManifest[]> {
  if (!layout) return [];
  const found: RawManifest[] = [];
  const seen = new Set<string>();
  const visit = async (d: Descriptor): Promise<void> => {
    if (seen.has(d.digest) || !layout.entryFor(d.digest)) return; // absent from the tar: fall back below
    seen.add(d.digest);
    const raw = await layout.readManifest(d.digest, d.mediaType).catch(() => undefined);
    if (!raw) return;
    if (isIndex(raw.mediaType)) {
      const index = (() => {
        try {
          return parseImageIndex(raw);
        } catch {
          return undefined;
        }
      })();
      for (const child of index?.manifests ?? []) await visit(child);
    } else if (isImageManifest(raw.mediaType)) found.push(raw);
  };
  for (const d of layout.index.manifests) await visit(d);
  return found;
}

/** `sha256:<hex>` when a path is named by digest (`blobs/sha256/<hex>`, `<hex>.json`, ggcr's `sha256:<hex>`). */
function digestInPath(path: string): Digest | undefined {
  const match = /^(?:blobs\/sha256\/|sha256:)?([a-f0-9]{64})(?:\.json)?$/.exec(path);
  return match ? (`sha256:${match[1]}` as Digest) : undefined;
}

/** manifest.json of a docker save archive is read whole up to this size (some 50,000 images). */
const MAX_SAVE_MANIFEST_BYTES = 16 << 20;
/**
 * Images and layer paths manifest.json may name (docker stops at 127 layers an image): each is
 * looked up, and read or hashed, so a small hostile file must not stand for millions of them.
 */
const MAX_SAVED_IMAGES = 10_000;
const MAX_SAVED_LAYERS = 100_000;

async function readArchive(file: string, signal: AbortSignal | undefined): Promise<{ images: ArchivedImage[]; blobs: Map<string, TarEntry> }> {
  const description = `docker-archive:${file}`;
  const entries = await indexTar(file, signal);
  const manifestEntry = entries.get('manifest.json');
  if (!manifestEntry) throw new PolyarchError('LAYOUT_INVALID', `${description} has no manifest.json: not a docker save archive`);
  const manifestBytes = await readEntry(file, manifestEntry, MAX_SAVE_MANIFEST_BYTES, 'manifest.json');
  let saved: SavedImage[];
  try {
    const value: unknown = JSON.parse(manifestBytes.toString('utf8'));
    if (!Array.isArray(value)) throw new Error('expected an array');
    if (value.length > MAX_SAVED_IMAGES) throw new Error(`${value.length} images, more than the ${MAX_SAVED_IMAGES} an archive may hold`);
    let layers = 0;
    for (const item of value as SavedImage[]) {
      if (typeof item?.Config !== 'string' || !Array.isArray(item.Layers)) throw new Error('an item lacks Config or Layers');
      if (!item.Layers.every((l) => typeof l === 'string')) throw new Error('a Layers entry is not a path');
      if (item.RepoTags !== undefined && item.RepoTags !== null && !(Array.isArray(item.RepoTags) && item.RepoTags.every((t) => typeof t === 'string'))) throw new Error('RepoTags is not a list of names');
      layers += item.Layers.length;
      if (layers > MAX_SAVED_LAYERS) throw new Error(`more than ${MAX_SAVED_LAYERS} layers in all`);
    }
    saved = value as SavedImage[];
  } catch (error) {
    throw new PolyarchError('LAYOUT_INVALID', `${description}: manifest.json is invalid (${(error as Error).message})`, { cause: error });
  }
  // A broken OCI part is no reason to refuse what manifest.json describes.
  const layout = await TarLayoutReader.open(file, entries, description).catch(() => undefined);
  // By config digest, parsed once: matching each manifest.json item against every one was quadratic.
  const byConfig = new Map<string, { raw: RawManifest; parsed: ImageManifest }[]>();
  for (const raw of await ociManifests(layout)) {
    const parsed = parseImageManifest(raw);
    byConfig.set(parsed.config.digest, [...(byConfig.get(parsed.config.digest) ?? []), { raw, parsed }]);
  }
  const blobs = new Map<string, TarEntry>();
  const digestsByOffset = new Map<number, Digest>(); // layers shared by images (or linked to) are hashed once
  const images: ArchivedImage[] = [];
  const need = (path: string): TarEntry => {
    const entry = entries.get(path);
    if (!entry) throw new PolyarchError('LAYOUT_INVALID', `${description}: manifest.json names ${path}, which is not in the archive`);
    return entry;
  };
  for (const item of saved) {
    signal?.throwIfAborted();
    const configEntry = need(item.Config);
    // Bounded before it is hashed, not only before it is read: a config is as small as a manifest.
    if (configEntry.size > MAX_MANIFEST_SIZE) throw new PolyarchError('LAYOUT_INVALID', `${description}: config ${item.Config} is ${configEntry.size} bytes, more than the ${MAX_MANIFEST_SIZE} it may have`);
    const configDigest = digestInPath(item.Config) ?? (await digestOfEntry(file, configEntry, signal));
    const configBytes = await readVerified(file, configEntry, configDigest, `config ${item.Config} of ${description}`);
    blobs.set(configDigest, configEntry);
    const repoTags = [...(item.RepoTags ?? [])];
    // Docker ≥25: the original manifest is in the OCI part; use it so its digest is kept.
    const original = byConfig.get(configDigest)?.find(({ parsed }) => parsed.layers.every((l) => layout?.entryFor(l.digest)));
    if (original) {
      for (const l of original.parsed.layers) blobs.set(l.digest, layout!.entryFor(l.digest)!);
      images.push({ manifest: original.raw, repoTags });
      continue;
    }
    const layers: Descriptor[] = [];
    for (const path of item.Layers) {
      signal?.throwIfAborted();
      const entry = need(path);
      let digest = digestsByOffset.get(entry.offset);
      if (!digest) {
        digest = await digestOfEntry(file, entry, signal);
        digestsByOffset.set(entry.offset, digest);
      }
      blobs.set(digest, entry);
      layers.push({ mediaType: (await isGzip(file, entry)) ? MediaType.DockerLayerGzip : MediaType.DockerLayer, digest, size: entry.size });
    }
    const manifest = rawFromJson(
      { schemaVersion: 2, mediaType: MediaType.DockerManifest, config: { mediaType: MediaType.DockerConfig, digest: configDigest, size: configBytes.length }, layers },
      MediaType.DockerManifest,
    );
    images.push({ manifest, repoTags });
  }
  return { images, blobs };
}

/**
 * Reading: one pass over the tar's headers, then one streaming hash per legacy layer file.
 * Writing: `reference` (`repo:tag`) names the image in RepoTags; files are staged beside `file`.
 */
export async function openDockerArchive(file: string, options: { readonly write?: boolean; readonly reference?: string; readonly signal?: AbortSignal } = {}): Promise<DockerArchive> {
  if (options.write) {
    await checkDestinationKind(file, 'archive', `docker-archive:${file}`);
    await makeDirectories(dirname(file));
    await removeOrphanStaging(dirname(file));
    const staging = tempPathIn(dirname(file), 'docker-archive');
    await mkdir(staging);
    const reference = options.reference !== undefined ? (familiarTagged(options.reference) ?? options.reference) : undefined;
    return new DockerArchive(file, { staging: new BlobStore(staging, `docker-archive:${file}`), ...(reference !== undefined ? { reference } : {}) });
  }
  return new DockerArchive(file, await readArchive(file, options.signal));
}
