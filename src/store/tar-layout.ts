// Reading an OCI image layout that sits inside a tar (oci-archive, and docker ≥25 save output)
// without extracting it.
import type { Readable } from 'node:stream';
import { isDigest, shortDigest, type Digest } from '../digest/digest.js';
import { verifyBytes, verifiedStream } from '../digest/verify-stream.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { Descriptor } from '../image/descriptor.js';
import { parseImageIndex, type ImageIndex } from '../image/index.js';
import { rawFromBytes, type RawManifest } from '../image/raw-manifest.js';
import { MediaType } from '../mediatype/mediatype.js';
import { REF_NAME } from './oci-layout.js';
import { readEntry, streamEntry, type TarEntry } from './tar-index.js';


export function blobEntryName(digest: Digest): string {
  return `blobs/${digest.replace(':', '/')}`;
}

export class TarLayoutReader {
  readonly #file: string;
  readonly #entries: ReadonlyMap<string, TarEntry>;
  readonly #description: string;
  readonly index: ImageIndex;

  private constructor(file: string, entries: ReadonlyMap<string, TarEntry>, index: ImageIndex, description: string) {
    this.#file = file;
    this.#entries = entries;
    this.index = index;
    this.#description = description;
  }

  /** undefined when the tar holds no index.json. */
  static async open(file: string, entries: ReadonlyMap<string, TarEntry>, description: string): Promise<TarLayoutReader | undefined> {
    const entry = entries.get('index.json');
    if (!entry) return undefined;
    const bytes = await readEntry(file, entry);
    const index = parseImageIndex(rawFromBytes(bytes, { mediaType: MediaType.OciIndex, what: `${description} index.json` }), `${description} index.json`);
    return new TarLayoutReader(file, entries, index, description);
  }

  entryFor(digest: Digest): TarEntry | undefined {
    return this.#entries.get(blobEntryName(digest));
  }

  resolve(reference: string): Descriptor | undefined {
    if (isDigest(reference)) return this.index.manifests.find((d) => d.digest === reference);
    const tagged = this.index.manifests.filter((d) => d.annotations?.[REF_NAME] === reference);
    if (tagged.length > 0) return tagged[tagged.length - 1];
    return reference === 'latest' && this.index.manifests.length === 1 ? this.index.manifests[0] : undefined;
  }

  async readManifest(digest: Digest, mediaType?: string): Promise<RawManifest> {
    const entry = this.entryFor(digest);
    if (!entry) throw new PolyarchError('MANIFEST_UNKNOWN', `${this.#description}: manifest ${digest} not in the archive`);
    const bytes = await readEntry(this.#file, entry);
    return rawFromBytes(bytes, { ...(mediaType ? { mediaType } : {}), expected: digest, what: `manifest ${shortDigest(digest)} in ${this.#description}` });
  }

  async getManifest(reference: string): Promise<RawManifest> {
    const descriptor = this.resolve(reference);
    if (descriptor) return this.readManifest(descriptor.digest, descriptor.mediaType);
    if (isDigest(reference) && this.entryFor(reference)) return this.readManifest(reference);
    throw new PolyarchError('MANIFEST_UNKNOWN', `${this.#description}: no manifest "${reference}"`);
  }

  hasBlob(descriptor: Descriptor): boolean {
    return this.entryFor(descriptor.digest) !== undefined;
  }

  openBlob(descriptor: Descriptor): Readable {
    const entry = this.entryFor(descriptor.digest);
    if (!entry) throw new PolyarchError('BLOB_UNKNOWN', `${this.#description}: blob ${descriptor.digest} not in the archive`);
    return verifiedStream(streamEntry(this.#file, entry), { digest: descriptor.digest, size: descriptor.size, what: `blob ${shortDigest(descriptor.digest)} in ${this.#description}` });
  }

  listTags(): string[] {
    return [...new Set(this.index.manifests.map((d) => d.annotations?.[REF_NAME]).filter((t): t is string => t !== undefined))].sort();
  }
}

/** Reads a small tar entry and checks it against a digest. */
export async function readVerified(file: string, entry: TarEntry, digest: Digest, what: string): Promise<Buffer> {
  const bytes = await readEntry(file, entry);
  verifyBytes(bytes, { digest, what });
  return bytes;
}
