// `oci-archive:FILE.tar[:TAG]`: a tar of an OCI layout. Reading streams blobs straight out of
// the tar; writing stages a layout next to the file and tars it atomically on close().
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { Descriptor } from '../image/descriptor.js';
import type { RawManifest } from '../image/raw-manifest.js';
import { tempPathIn } from '../internal/temp-path.js';
import { OciLayout, updateIndexJson } from './oci-layout.js';
import { indexTar } from './tar-index.js';
import { TarLayoutReader } from './tar-layout.js';
import { listFiles, writeTarAtomic } from './tar-write.js';

type Io = { readonly signal?: AbortSignal };

export class OciArchive {
  readonly kind = 'oci-archive' as const;
  readonly description: string;
  readonly #file: string;
  readonly #reader: TarLayoutReader | undefined;
  readonly #staging: OciLayout | undefined;
  #closed = false;

  constructor(file: string, reader: TarLayoutReader | undefined, staging: OciLayout | undefined) {
    this.#file = file;
    this.description = `oci-archive:${file}`;
    this.#reader = reader;
    this.#staging = staging;
  }

  #read(): TarLayoutReader {
    if (!this.#reader) throw new PolyarchError('USAGE', `${this.description} was opened for writing`);
    return this.#reader;
  }

  #write(): OciLayout {
    if (!this.#staging || this.#closed) throw new PolyarchError('USAGE', `${this.description} is not open for writing`);
    return this.#staging;
  }

  async resolve(reference: string, options: Io = {}): Promise<Descriptor | undefined> {
    return this.#staging ? this.#staging.resolve(reference, options) : this.#read().resolve(reference);
  }

  async getManifest(reference: string, options: Io = {}): Promise<RawManifest> {
    return this.#staging ? this.#staging.getManifest(reference, options) : this.#read().getManifest(reference);
  }

  async putManifest(manifest: RawManifest, options: Io & { readonly tag?: string } = {}): Promise<void> {
    await this.#write().putManifest(manifest, options);
  }

  async deleteManifest(reference: string, options: Io = {}): Promise<void> {
    await this.#write().deleteManifest(reference, options);
  }

  async hasBlob(descriptor: Descriptor): Promise<boolean> {
    return this.#staging ? this.#staging.hasBlob(descriptor) : this.#read().hasBlob(descriptor);
  }

  async openBlob(descriptor: Descriptor): Promise<Readable> {
    return this.#staging ? this.#staging.openBlob(descriptor) : this.#read().openBlob(descriptor);
  }

  async putBlob(descriptor: Descriptor, content: Readable, options: Io = {}): Promise<void> {
    await this.#write().putBlob(descriptor, content, options);
  }

  async listTags(): Promise<string[]> {
    return this.#staging ? this.#staging.listTags() : this.#read().listTags();
  }

  async close(options: Io & { readonly discard?: boolean } = {}): Promise<void> {
    if (this.#closed || !this.#staging) return;
    this.#closed = true;
    const staging = this.#staging.dir;
    try {
      if (!options.discard) {
        await updateIndexJson(staging, (entries) => entries); // an archive always carries index.json
        const files = (await listFiles(staging)).filter((f) => f !== 'index.json' && f !== 'oci-layout');
        await writeTarAtomic(this.#file, staging, ['oci-layout', 'index.json', ...files], options.signal ? { signal: options.signal } : {});
      }
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
}

export async function openOciArchive(file: string, options: { write?: boolean } = {}): Promise<OciArchive> {
  if (options.write) {
    const staging = tempPathIn(dirname(file), 'oci-archive');
    await mkdir(staging, { recursive: true });
    return new OciArchive(file, undefined, new OciLayout(staging, true));
  }
  const entries = await indexTar(file);
  const reader = await TarLayoutReader.open(file, entries, `oci-archive:${file}`);
  if (!reader) throw new PolyarchError('LAYOUT_INVALID', `oci-archive:${file} has no index.json: not an OCI archive`, { badInput: true });
  return new OciArchive(file, reader, undefined);
}
