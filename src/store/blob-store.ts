// Content-addressed blobs under `<root>/blobs/<alg>/<hex>` (OCI image layout), shared by the
// layout and the archive writers. Reads are verified, writes atomic.
import { createReadStream } from 'node:fs';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { algorithmOf, encodedPart, shortDigest, type Digest } from '../digest/digest.js';
import { verifyBytes, verifiedStream } from '../digest/verify-stream.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { Descriptor } from '../image/descriptor.js';
import { writeFileAtomic, writeStreamAtomic } from './atomic-write.js';

type Io = { readonly signal?: AbortSignal };

export class BlobStore {
  readonly root: string;
  readonly #name: string;

  constructor(root: string, name: string) {
    this.root = root;
    this.#name = name;
  }

  pathOf(digest: Digest): string {
    return join(this.root, 'blobs', algorithmOf(digest), encodedPart(digest));
  }

  async has(digest: Digest): Promise<boolean> {
    try {
      await access(this.pathOf(digest));
      return true;
    } catch {
      return false;
    }
  }

  async open(descriptor: Descriptor): Promise<Readable> {
    const path = this.pathOf(descriptor.digest);
    if (!(await this.has(descriptor.digest))) throw this.#unknown(descriptor.digest);
    const what = `blob ${shortDigest(descriptor.digest)} in ${this.#name}`;
    return verifiedStream(createReadStream(path), { digest: descriptor.digest, size: descriptor.size, what });
  }

  /** A small blob (manifest, config) read whole and verified. */
  async readSmall(digest: Digest, what: string): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.pathOf(digest));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw this.#unknown(digest, 'MANIFEST_UNKNOWN');
      throw error;
    }
    verifyBytes(bytes, { digest, what });
    return bytes;
  }

  async put(descriptor: Descriptor, content: Readable, options: Io = {}): Promise<void> {
    if (await this.has(descriptor.digest)) {
      content.destroy(); // content-addressed: what is there is already these bytes
      return;
    }
    await writeStreamAtomic(this.pathOf(descriptor.digest), content, {
      digest: descriptor.digest,
      size: descriptor.size,
      what: `blob ${shortDigest(descriptor.digest)} for ${this.#name}`,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /**
   * Moves a file already written and hashed by the caller (same filesystem) into the store,
   * instead of copying it through another verify pass.
   */
  async adoptFile(digest: Digest, path: string): Promise<void> {
    if (await this.has(digest)) {
      await rm(path, { force: true });
      return;
    }
    await mkdir(dirname(this.pathOf(digest)), { recursive: true });
    await rename(path, this.pathOf(digest));
  }

  async putBytes(digest: Digest, bytes: Buffer): Promise<void> {
    verifyBytes(bytes, { digest });
    if (!(await this.has(digest))) await writeFileAtomic(this.pathOf(digest), bytes);
  }

  #unknown(digest: Digest, code: 'BLOB_UNKNOWN' | 'MANIFEST_UNKNOWN' = 'BLOB_UNKNOWN'): PolyarchError {
    return new PolyarchError(code, `${this.#name}: ${code === 'BLOB_UNKNOWN' ? 'blob' : 'manifest'} ${digest} not found`);
  }
}
