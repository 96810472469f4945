// An OCI image layout directory as an Endpoint: blobs under blobs/<alg>/<hex>, tags as
// `org.opencontainers.image.ref.name` annotations in index.json.
// https://github.com/opencontainers/image-spec/blob/v1.1.0/image-layout.md
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { isDigest } from '../digest/digest.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { cleanDescriptor, parseImageIndex, type ImageIndex } from '../image/index.js';
import { descriptorOf, type Descriptor } from '../image/descriptor.js';
import { parseJsonObject, rawFromBytes, type RawManifest } from '../image/raw-manifest.js';
import { MediaType } from '../mediatype/mediatype.js';
import { writeFileAtomic } from './atomic-write.js';
import { BlobStore } from './blob-store.js';
import { removeOrphanTemps } from './gc.js';
import { withLayoutLock } from './layout-lock.js';

export const REF_NAME = 'org.opencontainers.image.ref.name';
const LAYOUT_HEADER = Buffer.from('{"imageLayoutVersion":"1.0.0"}');

type Io = { readonly signal?: AbortSignal };

/** Reads index.json (an empty index when the layout has none yet). */
export async function readIndexJson(dir: string): Promise<ImageIndex> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, 'index.json'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }));
  }
  try {
    return parseImageIndex(rawFromBytes(bytes, { mediaType: MediaType.OciIndex, what: `${dir}/index.json` }), `${dir}/index.json`);
  } catch (error) {
    throw new PolyarchError('LAYOUT_INVALID', `${join(dir, 'index.json')} is not a valid index: ${(error as Error).message}`, { cause: error });
  }
}

/** Read → change → atomic replace of index.json, under the layout's cross-process lock. */
export async function updateIndexJson(dir: string, change: (entries: Descriptor[]) => Descriptor[]): Promise<void> {
  await withLayoutLock(dir, async () => {
    const current = await readIndexJson(dir);
    const body = parseJsonObject(current.raw.bytes, 'index.json');
    const next = { ...body, schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: change([...current.manifests]).map(cleanDescriptor) };
    await writeFileAtomic(join(dir, 'index.json'), Buffer.from(JSON.stringify(next)));
  });
}

export function tagOf(descriptor: Descriptor): string | undefined {
  return descriptor.annotations?.[REF_NAME];
}

export class OciLayout {
  readonly kind = 'oci-layout' as const;
  readonly description: string;
  readonly dir: string;
  readonly #blobs: BlobStore;
  readonly #writable: boolean;
  #initialized = false;

  constructor(dir: string, writable: boolean) {
    this.dir = dir;
    this.description = `oci:${dir}`;
    this.#blobs = new BlobStore(dir, this.description);
    this.#writable = writable;
  }

  async resolve(reference: string, options: Io = {}): Promise<Descriptor | undefined> {
    void options;
    const index = await readIndexJson(this.dir);
    if (isDigest(reference)) {
      const listed = index.manifests.find((d) => d.digest === reference);
      if (listed) return listed;
      if (!(await this.#blobs.has(reference))) return undefined;
      return descriptorOf(rawFromBytes(await this.#blobs.readSmall(reference, `manifest ${reference} in ${this.description}`), { expected: reference }));
    }
    const tagged = index.manifests.filter((d) => tagOf(d) === reference);
    if (tagged.length > 0) return tagged[tagged.length - 1];
    // A layout holding a single image answers for "latest" (skopeo reads oci:DIR the same way).
    if (reference === 'latest' && index.manifests.length === 1) return index.manifests[0];
    return undefined;
  }

  async getManifest(reference: string, options: Io = {}): Promise<RawManifest> {
    const descriptor = await this.resolve(reference, options);
    if (!descriptor) {
      const tags = (await this.listTags()).join(', ');
      throw new PolyarchError('MANIFEST_UNKNOWN', `${this.description}: no manifest "${reference}"${tags ? ` (tags: ${tags})` : ''}`);
    }
    const what = `manifest ${descriptor.digest} in ${this.description}`;
    const bytes = await this.#blobs.readSmall(descriptor.digest, what);
    return rawFromBytes(bytes, { mediaType: descriptor.mediaType, expected: descriptor.digest, what });
  }

  async putManifest(manifest: RawManifest, options: Io & { readonly tag?: string } = {}): Promise<void> {
    await this.#init();
    await this.#blobs.putBytes(manifest.digest, manifest.bytes);
    const tag = options.tag;
    if (tag === undefined) return; // children are reachable through their parent
    const entry: Descriptor = { ...descriptorOf(manifest), annotations: { [REF_NAME]: tag } };
    await updateIndexJson(this.dir, (entries) => [...entries.filter((d) => tagOf(d) !== tag), entry]);
  }

  async deleteManifest(reference: string, options: Io = {}): Promise<void> {
    void options;
    const before = await readIndexJson(this.dir);
    const matches = (d: Descriptor): boolean => (isDigest(reference) ? d.digest === reference : tagOf(d) === reference);
    if (!before.manifests.some(matches)) throw new PolyarchError('MANIFEST_UNKNOWN', `${this.description}: no manifest "${reference}"`);
    await updateIndexJson(this.dir, (entries) => entries.filter((d) => !matches(d)));
  }

  async hasBlob(descriptor: Descriptor): Promise<boolean> {
    return this.#blobs.has(descriptor.digest);
  }

  async openBlob(descriptor: Descriptor): Promise<Readable> {
    return this.#blobs.open(descriptor);
  }

  async putBlob(descriptor: Descriptor, content: Readable, options: Io = {}): Promise<void> {
    await this.#init();
    await this.#blobs.put(descriptor, content, options);
  }

  /** Takes a file this process wrote and hashed inside the layout (a built layer) as the blob. */
  async adoptBlobFile(descriptor: Descriptor, path: string): Promise<void> {
    await this.#init();
    await this.#blobs.adoptFile(descriptor.digest, path);
  }

  async listTags(): Promise<string[]> {
    const index = await readIndexJson(this.dir);
    return [...new Set(index.manifests.map(tagOf).filter((t): t is string => t !== undefined))].sort();
  }

  async close(): Promise<void> {}

  /** Creates the layout on first write (and clears temp files a crashed writer left). */
  async #init(): Promise<void> {
    if (this.#initialized) return;
    if (!this.#writable) throw new PolyarchError('USAGE', `${this.description} was opened for reading`);
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    try {
      await access(join(this.dir, 'oci-layout'));
    } catch {
      await writeFileAtomic(join(this.dir, 'oci-layout'), LAYOUT_HEADER);
    }
    await removeOrphanTemps(this.dir);
    this.#initialized = true;
  }
}

/** Opens a layout; for reading it must exist, for writing it is created on first write. */
export async function openLayout(dir: string, options: { create?: boolean } = {}): Promise<OciLayout> {
  if (!options.create) {
    try {
      await access(join(dir, 'oci-layout'));
    } catch {
      throw new PolyarchError('LAYOUT_INVALID', `${dir} is not an OCI image layout (no oci-layout file)`, { badInput: true });
    }
  }
  return new OciLayout(dir, options.create === true);
}

