// The embedded registry's disk: one content-addressed blob store shared by every repository
// (`blobs/sha256/<hex>`), and per repository link files that say what it holds:
//   repositories/<name>/_blobs/<hex>       the repository may serve that blob
//   repositories/<name>/_manifests/<hex>   a manifest of the repository (content: its media type)
//   repositories/<name>/_tags/<tag>        the digest the tag points at
//   uploads/<id>                           an upload in progress (cleared on start)
// Every write goes through a temp file and rename, so a kill at any moment never leaves a
// visible partial blob, link or tag.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID, type Hash } from 'node:crypto';
import { createDigester, digestFromHash, encodedPart, isDigest, type Digest } from '../digest/digest.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { BlobStore } from '../store/blob-store.js';
import { writeStreamAtomic } from '../store/atomic-write.js';
import { removeOrphanTemps } from '../store/gc.js';
import { collectRegistryGarbage, type RegistryGarbageResult } from './garbage.js';

export interface UploadState {
  readonly id: string;
  readonly repository: string;
  size: number;
  /** Hashed as chunks arrive, so finishing never reads the upload again. */
  readonly hash: Hash;
}

export class RegistryStorage {
  readonly root: string;
  readonly blobs: BlobStore;
  readonly #uploads = new Map<string, UploadState>();

  constructor(root: string) {
    this.root = root;
    this.blobs = new BlobStore(root, 'embedded registry');
  }

  /** Creates the tree and drops uploads a previous run left unfinished. */
  async init(): Promise<void> {
    await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
    await mkdir(join(this.root, 'repositories'), { recursive: true });
    await removeOrphanTemps(this.root);
    await rm(join(this.root, 'uploads'), { recursive: true, force: true });
    await mkdir(join(this.root, 'uploads'), { recursive: true });
  }

  #repo(name: string, ...rest: string[]): string {
    return join(this.root, 'repositories', ...name.split('/'), ...rest);
  }

  // ---- blobs ----
  async hasBlob(repository: string, digest: Digest): Promise<boolean> {
    return (await exists(this.#repo(repository, '_blobs', encodedPart(digest)))) && (await this.blobs.has(digest));
  }

  async blobSize(digest: Digest): Promise<number> {
    return (await stat(this.blobs.pathOf(digest))).size;
  }

  openBlobRange(digest: Digest, start?: number, end?: number): Readable {
    return createReadStream(this.blobs.pathOf(digest), { ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}) });
  }

  async linkBlob(repository: string, digest: Digest): Promise<void> {
    await writeFileAtomic(this.#repo(repository, '_blobs', encodedPart(digest)), Buffer.from(digest));
  }

  async unlinkBlob(repository: string, digest: Digest): Promise<boolean> {
    const path = this.#repo(repository, '_blobs', encodedPart(digest));
    const had = await exists(path);
    await rm(path, { force: true });
    return had;
  }

  /** A blob pushed in one request: verified while written, then linked into the repository. */
  async putBlob(repository: string, digest: Digest, content: Readable, size?: number): Promise<void> {
    if (!(await this.blobs.has(digest))) {
      await writeStreamAtomic(this.blobs.pathOf(digest), content, { digest, ...(size !== undefined ? { size } : {}), what: `upload of ${digest}` });
    } else {
      content.resume();
    }
    await this.linkBlob(repository, digest);
  }

  // ---- uploads ----
  async startUpload(repository: string): Promise<UploadState> {
    const state: UploadState = { id: randomUUID(), repository, size: 0, hash: createDigester('sha256') };
    await writeFileAtomic(join(this.root, 'uploads', state.id), Buffer.alloc(0));
    this.#uploads.set(state.id, state);
    return state;
  }

  upload(id: string, repository: string): UploadState | undefined {
    const state = this.#uploads.get(id);
    return state && state.repository === repository ? state : undefined;
  }

  async appendUpload(state: UploadState, content: Readable): Promise<void> {
    // A chunk cut off mid-way would leave the hash ahead of the file: count it only when whole.
    const chunkHash = state.hash.copy();
    let bytes = 0;
    content.on('data', (c: Buffer) => {
      chunkHash.update(c);
      bytes += c.length;
    });
    const path = join(this.root, 'uploads', state.id);
    try {
      await pipeline(content, createWriteStream(path, { flags: 'a' }));
    } catch (error) {
      // Drop the partial chunk so the session stays at its last good offset.
      await truncateTo(path, state.size);
      throw error;
    }
    state.size += bytes;
    (state as { hash: Hash }).hash = chunkHash;
  }

  /** Verifies the finished upload against `digest` and moves it into the blob store. */
  async finishUpload(state: UploadState, digest: Digest): Promise<boolean> {
    const path = join(this.root, 'uploads', state.id);
    let actual: Digest;
    if (digest.startsWith('sha256:')) {
      actual = digestFromHash(state.hash.copy(), 'sha256');
    } else {
      const hash = createDigester('sha512');
      for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
      actual = digestFromHash(hash, 'sha512');
    }
    if (actual !== digest) return false;
    // uploads/ sits beside blobs/ on one filesystem: the verified file is renamed into place.
    if (!(await this.blobs.has(digest))) {
      await mkdir(join(this.root, 'blobs', digest.slice(0, digest.indexOf(':'))), { recursive: true });
      await rename(path, this.blobs.pathOf(digest));
    }
    await this.linkBlob(state.repository, digest);
    await this.cancelUpload(state);
    return true;
  }

  async cancelUpload(state: UploadState): Promise<void> {
    this.#uploads.delete(state.id);
    await rm(join(this.root, 'uploads', state.id), { force: true });
  }

  // ---- manifests and tags ----
  async putManifest(repository: string, digest: Digest, bytes: Buffer, mediaType: string, tag?: string): Promise<void> {
    await this.blobs.putBytes(digest, bytes);
    await this.linkBlob(repository, digest);
    await writeFileAtomic(this.#repo(repository, '_manifests', encodedPart(digest)), Buffer.from(mediaType));
    if (tag !== undefined) await writeFileAtomic(this.#repo(repository, '_tags', tag), Buffer.from(digest));
  }

  async resolve(repository: string, reference: string): Promise<Digest | undefined> {
    if (isDigest(reference)) return (await exists(this.#repo(repository, '_manifests', encodedPart(reference)))) ? reference : undefined;
    const text = await readFile(this.#repo(repository, '_tags', reference), 'utf8').catch(() => undefined);
    return text !== undefined && isDigest(text) && (await exists(this.#repo(repository, '_manifests', encodedPart(text)))) ? text : undefined;
  }

  async manifestOf(repository: string, digest: Digest): Promise<{ bytes: Buffer; mediaType: string } | undefined> {
    const mediaType = await readFile(this.#repo(repository, '_manifests', encodedPart(digest)), 'utf8').catch(() => undefined);
    if (mediaType === undefined) return undefined;
    return { bytes: await this.blobs.readSmall(digest, `manifest ${digest}`), mediaType };
  }

  async hasManifest(repository: string, digest: Digest): Promise<boolean> {
    return exists(this.#repo(repository, '_manifests', encodedPart(digest)));
  }

  async deleteManifest(repository: string, digest: Digest): Promise<boolean> {
    const path = this.#repo(repository, '_manifests', encodedPart(digest));
    if (!(await exists(path))) return false;
    for (const tag of await this.tags(repository)) {
      if ((await readFile(this.#repo(repository, '_tags', tag), 'utf8').catch(() => '')) === digest) await rm(this.#repo(repository, '_tags', tag), { force: true });
    }
    await rm(path, { force: true });
    return true;
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    const path = this.#repo(repository, '_tags', tag);
    const had = await exists(path);
    await rm(path, { force: true });
    return had;
  }

  /** Tags in lexical order (the distribution-spec MUST distribution 2.8 does not meet). */
  async tags(repository: string): Promise<string[]> {
    return (await readdir(this.#repo(repository, '_tags')).catch(() => [] as string[])).filter((t) => !t.startsWith('.')).sort();
  }

  async manifestDigests(repository: string): Promise<Digest[]> {
    const names = await readdir(this.#repo(repository, '_manifests')).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}` as Digest);
  }

  async repositoryExists(repository: string): Promise<boolean> {
    return exists(this.#repo(repository, '_blobs')) ;
  }

  /** Every repository name, sorted. */
  async repositories(): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string, prefix: string[]): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      if (entries.some((e) => e.name === '_blobs' || e.name === '_manifests')) found.push(prefix.join('/'));
      for (const e of entries) if (e.isDirectory() && !e.name.startsWith('_')) await walk(join(dir, e.name), [...prefix, e.name]);
    };
    await walk(join(this.root, 'repositories'), []);
    return found.sort();
  }

  /** Removes the blobs no stored manifest or tag reaches (run while no push is under way); see garbage.ts. */
  collectGarbage(): Promise<RegistryGarbageResult> {
    return collectRegistryGarbage(this);
  }
}

async function truncateTo(path: string, size: number): Promise<void> {
  await truncate(path, size).catch(() => undefined);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
