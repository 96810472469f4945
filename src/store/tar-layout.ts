// Reading an OCI image layout that sits inside a tar (oci-archive, and docker ≥25 save output)
// without extracting it: small JSON is read whole, blobs are streamed from their offsets.
import type { Readable } from 'node:stream';
import { isDigest, shortDigest, type Digest } from '../digest/digest.js';
import { verifyBytes, verifiedStream } from '../digest/verify-stream.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { Descriptor } from '../image/descriptor.js';
import { parseImageIndex, type ImageIndex } from '../image/index.js';
import { MAX_MANIFEST_SIZE, rawFromBytes, type RawManifest } from '../image/raw-manifest.js';
import { MediaType } from '../mediatype/mediatype.js';
import { findEntry, tagsOf } from './index-entries.js';
import { readEntry, streamEntry, type TarEntry, type TarIndex } from './tar-index.js';

type Io = { readonly signal?: AbortSignal };

export function blobEntryName(digest: Digest): string {
  return `blobs/${digest.replace(':', '/')}`;
}

export class TarLayoutReader {
  readonly #file: string;
  readonly #entries: TarIndex;
  readonly #description: string;
  readonly index: ImageIndex;

  private constructor(file: string, entries: TarIndex, index: ImageIndex, description: string) {
    this.#file = file;
    this.#entries = entries;
    this.index = index;
    this.#description = description;
  }

  /** undefined when the tar holds no index.json; LAYOUT_INVALID when it holds a bad one. */
  static async open(file: string, entries: TarIndex, description: string): Promise<TarLayoutReader | undefined> {
    const entry = entries.get('index.json');
    if (!entry) return undefined;
    const what = `${description} index.json`;
    if (entry.size > MAX_MANIFEST_SIZE) throw new PolyarchError('LAYOUT_INVALID', `${what} is ${entry.size} bytes, more than an index may have`);
    try {
      const index = parseImageIndex(rawFromBytes(await readEntry(file, entry, MAX_MANIFEST_SIZE, 'index.json'), { mediaType: MediaType.OciIndex, what }), what);
      return new TarLayoutReader(file, entries, index, description);
    } catch (error) {
      throw new PolyarchError('LAYOUT_INVALID', `${what} is not a valid index: ${(error as Error).message}`, { cause: error });
    }
  }

  entryFor(digest: Digest): TarEntry | undefined {
    return this.#entries.get(blobEntryName(digest));
  }

  resolve(reference: string): Descriptor | undefined {
    return findEntry(this.index.manifests, reference);
  }

  async readManifest(digest: Digest, mediaType?: string): Promise<RawManifest> {
    const entry = this.entryFor(digest);
    if (!entry) throw new PolyarchError('MANIFEST_UNKNOWN', `${this.#description}: manifest ${digest} is not in the archive`);
    const what = `manifest ${shortDigest(digest)} in ${this.#description}`;
    if (entry.size > MAX_MANIFEST_SIZE) throw new PolyarchError('MANIFEST_INVALID', `${what}: ${entry.size} bytes is more than a manifest may have`);
    return rawFromBytes(await readEntry(this.#file, entry, MAX_MANIFEST_SIZE, what), { ...(mediaType ? { mediaType } : {}), expected: digest, what });
  }

  async getManifest(reference: string): Promise<RawManifest> {
    const descriptor = this.resolve(reference);
    if (descriptor) return this.readManifest(descriptor.digest, descriptor.mediaType);
    if (isDigest(reference) && this.entryFor(reference)) return this.readManifest(reference);
    const tags = this.listTags().join(', ');
    throw new PolyarchError('MANIFEST_UNKNOWN', `${this.#description}: no manifest "${reference}"${tags ? ` (tags: ${tags})` : ''}`);
  }

  hasBlob(descriptor: Descriptor): boolean {
    return this.entryFor(descriptor.digest) !== undefined;
  }

  openBlob(descriptor: Descriptor, options: Io = {}): Readable {
    const entry = this.entryFor(descriptor.digest);
    if (!entry) throw new PolyarchError('BLOB_UNKNOWN', `${this.#description}: blob ${descriptor.digest} is not in the archive`);
    const what = `blob ${shortDigest(descriptor.digest)} in ${this.#description}`;
    return verifiedStream(streamEntry(this.#file, entry, options), { digest: descriptor.digest, size: descriptor.size, what });
  }

  listTags(): string[] {
    return tagsOf(this.index.manifests);
  }
}

/** Reads a small tar entry (a config: at most a manifest's size) and checks it against a digest. */
export async function readVerified(file: string, entry: TarEntry, digest: Digest, what: string): Promise<Buffer> {
  const bytes = await readEntry(file, entry, MAX_MANIFEST_SIZE, what);
  verifyBytes(bytes, { digest, what });
  return bytes;
}
