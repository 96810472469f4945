// `oci-archive:FILE.tar[:TAG]`: a tar of an OCI layout (what `buildx --output type=oci` and
// `skopeo copy … oci-archive:` write). Reading streams blobs straight out of the tar; writing
// stages a layout next to the file and tars it on close(), atomically.
import { mkdir, rm } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { Descriptor } from '../image/descriptor.js';
import type { RawManifest } from '../image/raw-manifest.js';
import { isTempName, tempPathIn } from '../internal/temp-path.js';
import { removeOrphanStaging } from './gc.js';
import { initLayout, OciLayout } from './oci-layout.js';
import { indexTar } from './tar-index.js';
import { TarLayoutReader } from './tar-layout.js';
import { listFiles, writeTarAtomic } from './tar-write.js';
import { makeDirectories } from '../internal/make-directories.js';
import { checkDestinationKind } from './destination.js';

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

  // While writing, reads see what has been staged so far (a copy checks hasBlob before putBlob).
  async resolve(reference: string, options: Io = {}): Promise<Descriptor | undefined> {
    return this.#staging ? this.#write().resolve(reference, options) : this.#read().resolve(reference);
  }

  async getManifest(reference: string, options: Io = {}): Promise<RawManifest> {
    return this.#staging ? this.#write().getManifest(reference, options) : this.#read().getManifest(reference);
  }

  async putManifest(manifest: RawManifest, options: Io & { readonly tag?: string } = {}): Promise<void> {
    await this.#write().putManifest(manifest, options);
  }

  async deleteManifest(reference: string, options: Io = {}): Promise<void> {
    await this.#write().deleteManifest(reference, options);
  }

  async hasBlob(descriptor: Descriptor, options: Io = {}): Promise<boolean> {
    return this.#staging ? this.#write().hasBlob(descriptor, options) : this.#read().hasBlob(descriptor);
  }

  async openBlob(descriptor: Descriptor, options: Io = {}): Promise<Readable> {
    return this.#staging ? this.#write().openBlob(descriptor, options) : this.#read().openBlob(descriptor, options);
  }

  async putBlob(descriptor: Descriptor, content: Readable, options: Io = {}): Promise<void> {
    let staging: OciLayout;
    try {
      staging = this.#write();
    } catch (error) {
      content.destroy();
      throw error;
    }
    await staging.putBlob(descriptor, content, options);
  }

  async listTags(options: Io = {}): Promise<string[]> {
    return this.#staging ? this.#write().listTags(options) : this.#read().listTags();
  }

  /**
   * Writing: tars the staged layout into place (temp file + rename), then removes the staging
   * directory. With `discard`, or when writing fails, nothing appears and an existing file is kept.
   */
  async close(options: Io & { readonly discard?: boolean } = {}): Promise<void> {
    if (this.#closed || !this.#staging) return;
    this.#closed = true;
    const staging = this.#staging.dir;
    try {
      if (!options.discard) {
        await initLayout(staging); // an archive always carries oci-layout and index.json
        const files = (await listFiles(staging)).filter((f) => f.startsWith('blobs/') && !isTempName(basename(f)));
        await writeTarAtomic(this.#file, staging, ['oci-layout', 'index.json', ...files], options.signal ? { signal: options.signal } : {});
      }
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
}

/** Reading: one pass over the tar's headers; LAYOUT_INVALID when it holds no OCI layout. */
export async function openOciArchive(file: string, options: { readonly write?: boolean; readonly signal?: AbortSignal } = {}): Promise<OciArchive> {
  if (options.write) {
    await checkDestinationKind(file, 'archive', `oci-archive:${file}`);
    await makeDirectories(dirname(file));
    await removeOrphanStaging(dirname(file));
    const staging = tempPathIn(dirname(file), 'oci-archive');
    await mkdir(staging);
    return new OciArchive(file, undefined, new OciLayout(staging, true));
  }
  const entries = await indexTar(file, options.signal);
  const reader = await TarLayoutReader.open(file, entries, `oci-archive:${file}`);
  if (!reader) throw new PolyarchError('LAYOUT_INVALID', `oci-archive:${file} has no index.json: not an OCI archive`);
  return new OciArchive(file, reader, undefined);
}
