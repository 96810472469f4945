// `docker-archive:FILE.tar[:REPO:TAG]`: the `docker save` / `docker load` tarball.
// Reads both forms: docker ≥25 (an OCI layout beside manifest.json, so the original manifest
// and its digest survive) and the legacy form (manifest.json + `<id>/layer.tar`), for which a
// schema-2 manifest is made from the files. Writes both forms at once, atomically on close().
// https://github.com/moby/moby/blob/master/image/tarexport/save.go
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { createDigester, digestFromHash, digestOfBytes, isDigest, type Digest } from '../digest/digest.js';
import { verifiedStream } from '../digest/verify-stream.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { Descriptor } from '../image/descriptor.js';
import { descriptorOf } from '../image/descriptor.js';
import { parseImageManifest } from '../image/manifest.js';
import { rawFromJson, type RawManifest } from '../image/raw-manifest.js';
import { tempPathIn } from '../internal/temp-path.js';
import { isIndex, MediaType } from '../mediatype/mediatype.js';
import { formatReference, parseReference, withDefaultTag } from '../reference/reference.js';
import { BlobStore } from './blob-store.js';
import { REF_NAME } from './oci-layout.js';
import { indexTar, readEntry, streamEntry, type TarEntry } from './tar-index.js';
import { blobEntryName, readVerified, TarLayoutReader } from './tar-layout.js';
import { writeTarAtomic } from './tar-write.js';
import { writeFileAtomic } from './atomic-write.js';

type Io = { readonly signal?: AbortSignal };

/** One `manifest.json` item. */
interface SavedImage {
  readonly Config: string;
  readonly RepoTags?: readonly string[] | null;
  readonly Layers: readonly string[];
}

interface ArchivedImage {
  readonly manifest: RawManifest;
  readonly repoTags: readonly string[];
}

/** `team/app:1` and `docker.io/team/app:1` name the same image. */
function sameName(a: string, b: string): boolean {
  try {
    return formatReference(withDefaultTag(parseReference(a))) === formatReference(withDefaultTag(parseReference(b)));
  } catch {
    return a === b;
  }
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

  #find(reference: string): ArchivedImage | undefined {
    const images = this.#all();
    if (isDigest(reference)) return images.find((i) => i.manifest.digest === reference);
    const named = images.find((i) => i.repoTags.some((t) => sameName(t, reference)));
    if (named) return named;
    // `docker-archive:FILE` with one image means that image, whatever its tag (skopeo does the same).
    return images.length === 1 && (reference === 'latest' || reference === '') ? images[0] : undefined;
  }

  async resolve(reference: string): Promise<Descriptor | undefined> {
    const image = this.#find(reference);
    return image ? descriptorOf(image.manifest) : undefined;
  }

  async getManifest(reference: string): Promise<RawManifest> {
    const image = this.#find(reference);
    if (!image) {
      const names = this.#all().flatMap((i) => i.repoTags);
      throw new PolyarchError('MANIFEST_UNKNOWN', `${this.description}: no image "${reference}"${names.length ? ` (it holds ${names.join(', ')})` : ''}`);
    }
    return image.manifest;
  }

  async putManifest(manifest: RawManifest, options: Io & { readonly tag?: string } = {}): Promise<void> {
    const staging = this.#writable();
    if (isIndex(manifest.mediaType)) {
      throw new PolyarchError('USAGE', `${this.description}: docker-archive holds one platform per image; choose one with --platform`);
    }
    parseImageManifest(manifest, `manifest ${manifest.digest}`);
    await staging.putBytes(manifest.digest, manifest.bytes);
    const name = this.#reference ?? (options.tag?.includes(':') ? options.tag : undefined);
    this.#written.push({ manifest, repoTags: name ? [name] : [] });
  }

  async deleteManifest(reference: string): Promise<void> {
    throw new PolyarchError('UNSUPPORTED', `${this.description}: cannot delete "${reference}" from a docker archive`);
  }

  async hasBlob(descriptor: Descriptor): Promise<boolean> {
    return this.#staging ? this.#staging.has(descriptor.digest) : this.#blobs.has(descriptor.digest);
  }

  async openBlob(descriptor: Descriptor): Promise<Readable> {
    if (this.#staging) return this.#staging.open(descriptor);
    const entry = this.#blobs.get(descriptor.digest);
    if (!entry) throw new PolyarchError('BLOB_UNKNOWN', `${this.description}: blob ${descriptor.digest} not in the archive`);
    return verifiedStream(streamEntry(this.#file, entry), { digest: descriptor.digest, size: descriptor.size, what: `blob ${descriptor.digest} in ${this.description}` });
  }

  async putBlob(descriptor: Descriptor, content: Readable, options: Io = {}): Promise<void> {
    await this.#writable().put(descriptor, content, options);
  }

  async listTags(): Promise<string[]> {
    return [...new Set(this.#all().flatMap((i) => i.repoTags))].sort();
  }

  async close(options: Io & { readonly discard?: boolean } = {}): Promise<void> {
    if (this.#closed || !this.#staging) return;
    this.#closed = true;
    const root = this.#staging.root;
    try {
      if (!options.discard) {
        if (this.#written.length === 0) throw new PolyarchError('USAGE', `${this.description}: nothing to write`);
        await this.#writeMetadata(root);
        const blobs = new Set<string>();
        for (const { manifest } of this.#written) {
          const parsed = parseImageManifest(manifest);
          for (const d of [manifest, parsed.config, ...parsed.layers]) blobs.add(blobEntryName(d.digest as Digest));
        }
        await writeTarAtomic(this.#file, root, ['manifest.json', 'repositories', 'oci-layout', 'index.json', ...[...blobs].sort()], options.signal ? { signal: options.signal } : {});
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }

  /** manifest.json and repositories for `docker load`; oci-layout and index.json for OCI readers. */
  async #writeMetadata(root: string): Promise<void> {
    const saved: SavedImage[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    const index: Descriptor[] = [];
    for (const { manifest, repoTags } of this.#written) {
      const parsed = parseImageManifest(manifest);
      saved.push({ Config: blobEntryName(parsed.config.digest), RepoTags: repoTags, Layers: parsed.layers.map((l) => blobEntryName(l.digest)) });
      for (const name of repoTags) {
        const ref = withDefaultTag(parseReference(name));
        const colon = name.lastIndexOf(':');
        const repo = name.slice(0, colon);
        (repositories[repo] ??= {})[ref.tag ?? 'latest'] = (parsed.layers.at(-1)?.digest ?? parsed.config.digest).slice(7);
        index.push({ ...descriptorOf(manifest), annotations: { 'io.containerd.image.name': formatReference(ref), [REF_NAME]: ref.tag ?? 'latest' } });
      }
      if (repoTags.length === 0) index.push(descriptorOf(manifest));
    }
    await writeFileAtomic(join(root, 'manifest.json'), Buffer.from(JSON.stringify(saved)));
    await writeFileAtomic(join(root, 'repositories'), Buffer.from(JSON.stringify(repositories)));
    await writeFileAtomic(join(root, 'oci-layout'), Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
    await writeFileAtomic(join(root, 'index.json'), Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: index })));
  }

  #writable(): BlobStore {
    if (!this.#staging || this.#closed) throw new PolyarchError('USAGE', `${this.description} is not open for writing`);
    return this.#staging;
  }
}

/** Streams a tar entry once to learn its digest. */
async function digestOfEntry(file: string, entry: TarEntry): Promise<Digest> {
  const hash = createDigester('sha256');
  for await (const chunk of streamEntry(file, entry)) hash.update(chunk as Buffer);
  return digestFromHash(hash, 'sha256');
}

async function isGzip(file: string, entry: TarEntry): Promise<boolean> {
  if (entry.size < 2) return false;
  const head = await readEntry(file, { offset: entry.offset, size: 2 });
  return head[0] === 0x1f && head[1] === 0x8b;
}

async function readArchive(file: string): Promise<{ images: ArchivedImage[]; blobs: Map<string, TarEntry> }> {
  const description = `docker-archive:${file}`;
  const entries = await indexTar(file);
  const manifestEntry = entries.get('manifest.json');
  if (!manifestEntry) throw new PolyarchError('LAYOUT_INVALID', `${description} has no manifest.json: not a docker save archive`, { badInput: true });
  let saved: SavedImage[];
  try {
    saved = JSON.parse((await readEntry(file, manifestEntry)).toString('utf8')) as SavedImage[];
    if (!Array.isArray(saved)) throw new Error('expected an array');
  } catch (error) {
    throw new PolyarchError('LAYOUT_INVALID', `${description}: manifest.json is invalid (${(error as Error).message})`, { cause: error });
  }
  const layout = await TarLayoutReader.open(file, entries, description).catch(() => undefined);
  const blobs = new Map<string, TarEntry>();
  const images: ArchivedImage[] = [];
  const need = (path: string): TarEntry => {
    const entry = entries.get(path.replace(/^\.\//, ''));
    if (!entry) throw new PolyarchError('LAYOUT_INVALID', `${description}: manifest.json names ${path}, which is not in the archive`);
    return entry;
  };
  for (const item of saved) {
    const configEntry = need(item.Config);
    const named = /^(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.json)?$/.exec(item.Config);
    const configDigest = named ? (`sha256:${named[1]}` as Digest) : digestOfBytes(await readEntry(file, configEntry));
    const configBytes = await readVerified(file, configEntry, configDigest, `config of ${description}`);
    blobs.set(configDigest, configEntry);
    const repoTags = item.RepoTags ?? [];
    // Docker ≥25: the original manifest is in the OCI part; use it so its digest is kept.
    let manifest: RawManifest | undefined;
    for (const d of layout?.index.manifests ?? []) {
      const candidate = await layout!.readManifest(d.digest, d.mediaType).catch(() => undefined);
      if (!candidate || isIndex(candidate.mediaType)) continue;
      const parsed = parseImageManifest(candidate);
      if (parsed.config.digest !== configDigest || !parsed.layers.every((l) => layout!.entryFor(l.digest))) continue;
      manifest = candidate;
      for (const l of parsed.layers) blobs.set(l.digest, layout!.entryFor(l.digest)!);
      break;
    }
    if (!manifest) {
      const layers: Descriptor[] = [];
      for (const path of item.Layers) {
        const entry = need(path);
        const digest = await digestOfEntry(file, entry);
        blobs.set(digest, entry);
        layers.push({ mediaType: (await isGzip(file, entry)) ? MediaType.DockerLayerGzip : MediaType.DockerLayer, digest, size: entry.size });
      }
      manifest = rawFromJson(
        { schemaVersion: 2, mediaType: MediaType.DockerManifest, config: { mediaType: MediaType.DockerConfig, digest: configDigest, size: configBytes.length }, layers },
        MediaType.DockerManifest,
      );
    }
    images.push({ manifest, repoTags });
  }
  return { images, blobs };
}

export async function openDockerArchive(file: string, options: { write?: boolean; reference?: string } = {}): Promise<DockerArchive> {
  if (options.write) {
    const staging = tempPathIn(dirname(file), 'docker-archive');
    await mkdir(staging, { recursive: true });
    return new DockerArchive(file, { staging: new BlobStore(staging, `docker-archive:${file}`), ...(options.reference !== undefined ? { reference: options.reference } : {}) });
  }
  return new DockerArchive(file, await readArchive(file));
}
