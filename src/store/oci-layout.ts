// An OCI image layout directory as an Endpoint: blobs under blobs/<alg>/<hex>, tags as
// `org.opencontainers.image.ref.name` annotations in index.json.
// https://github.com/opencontainers/image-spec/blob/v1.1.0/image-layout.md
import { access, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { isDigest, type Digest } from '../digest/digest.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { PieceTaker } from '../internal/streams.js';
import { cleanDescriptor, parseImageIndex, type ImageIndex } from '../image/index.js';
import { descriptorOf, type Descriptor } from '../image/descriptor.js';
import { MAX_MANIFEST_SIZE, parseJsonObject, rawFromBytes, type RawManifest } from '../image/raw-manifest.js';
import { isIndex, isManifest, MediaType } from '../mediatype/mediatype.js';
import { referrerDescriptor, referrersListEntries, referrersTag, subjectOf } from '../image/referrer.js';
import { syncFile, writeFileAtomic } from './atomic-write.js';
import { BlobStore } from './blob-store.js';
import { removeOrphanTemps } from './gc.js';
import { findEntry, isNamed, MAX_INDEX_JSON_BYTES, REF_NAME, tagOf, tagsOf } from './index-entries.js';
import { withLayoutLock } from './layout-lock.js';
import { makeDirectories } from '../internal/make-directories.js';
import { RegularFileError, readRegularBytes } from '../internal/regular-file.js';
import { checkDestinationKind } from './destination.js';

export { REF_NAME, tagOf } from './index-entries.js';

/** The `oci-layout` file (image-layout.md: MUST). */
export const LAYOUT_HEADER = '{"imageLayoutVersion":"1.0.0"}';
const EMPTY_INDEX = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });

type Io = { readonly signal?: AbortSignal };

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Reads index.json (an empty index when the layout has none yet). */
export async function readIndexJson(dir: string): Promise<ImageIndex> {
  const path = join(dir, 'index.json');
  let bytes: Buffer;
  try {
    // Never through a link, never waiting on a pipe, never past the limit: the layout may be anyone's.
    bytes = await readRegularBytes(path, MAX_INDEX_JSON_BYTES, { followLinks: false });
  } catch (error) {
    if (!(error instanceof RegularFileError)) throw error;
    if (error.problem !== 'missing') throw new PolyarchError('LAYOUT_INVALID', `${path}: ${error.message}`, { cause: error });
    bytes = Buffer.from(EMPTY_INDEX);
  }
  try {
    return parseImageIndex(rawFromBytes(bytes, { mediaType: MediaType.OciIndex, what: path }), path);
  } catch (error) {
    throw new PolyarchError('LAYOUT_INVALID', `${path} is not a valid index: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Read → change → atomic replace of index.json, under the layout's cross-process lock. Fields
 * other tools put beside `manifests` (annotations) are kept; nothing is written when `change`
 * leaves the entries as they were and index.json exists.
 */
export async function updateIndexJson(dir: string, change: (entries: Descriptor[]) => Descriptor[]): Promise<void> {
  await withLayoutLock(dir, async () => {
    const present = await exists(join(dir, 'index.json'));
    const current = await readIndexJson(dir);
    const before = current.manifests.map(cleanDescriptor);
    const after = change([...current.manifests]).map(cleanDescriptor);
    if (present && JSON.stringify(before) === JSON.stringify(after)) return;
    const body = parseJsonObject(current.raw.bytes, 'index.json');
    const next = { ...body, schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: after };
    await writeFileAtomic(join(dir, 'index.json'), Buffer.from(JSON.stringify(next)));
  });
}

/** Creates the layout's skeleton (`oci-layout`, `index.json`, `blobs/sha256/`) where missing. */
export async function initLayout(dir: string): Promise<void> {
  await makeDirectories(join(dir, 'blobs', 'sha256'));
  if (!(await exists(join(dir, 'oci-layout')))) await writeFileAtomic(join(dir, 'oci-layout'), Buffer.from(LAYOUT_HEADER));
  if (!(await exists(join(dir, 'index.json')))) await updateIndexJson(dir, (entries) => entries);
}

/** Digests an index lists directly (empty for an image manifest or an unreadable body). */
function childrenOf(manifest: RawManifest): Set<string> {
  if (!isIndex(manifest.mediaType)) return new Set();
  try {
    return new Set(parseImageIndex(manifest).manifests.map((d) => d.digest));
  } catch {
    return new Set();
  }
}

export class OciLayout {
  readonly kind = 'oci-layout' as const;
  readonly description: string;
  readonly dir: string;
  readonly #blobs: BlobStore;
  readonly #writable: boolean;
  /** The layout's files made on first write, once: six blobs starting at once each wrote them. */
  #initialized: Promise<void> | undefined;
  /** Blobs this handle added (absent before it wrote them): what `close({discard})` takes back. */
  readonly #added = new Set<Digest>();
  /** With batched syncs: blobs written but not yet named, each in its temp file, and that file's sync (queued or under way). */
  #unsynced: Map<Digest, { readonly temp: string; readonly synced: Promise<void> }> | undefined;
  /** The sync last queued by #syncLater (settled, never rejected): the next one starts after it. */
  #syncQueue: Promise<void> = Promise.resolve();
  /** What #referrersBySubject read, for the version of index.json it read. */
  #subjects: { readonly indexDigest: Digest; readonly bySubject: Map<string, Descriptor[]> } | undefined;

  constructor(dir: string, writable: boolean) {
    this.dir = dir;
    this.description = `oci:${dir}`;
    this.#blobs = new BlobStore(dir, this.description, { refuseLinkedFolders: true });
    this.#writable = writable;
  }

  /** A tag (ref.name, or the tag of a containerd name), a full name, or any manifest's digest. */
  async resolve(reference: string, options: Io = {}): Promise<Descriptor | undefined> {
    options.signal?.throwIfAborted();
    const index = await readIndexJson(this.dir);
    const listed = findEntry(index.manifests, reference);
    if (listed || !isDigest(reference)) return listed;
    // A child manifest is addressed by digest though index.json does not list it.
    if (!(await this.#blobs.has(reference))) return undefined;
    const what = `manifest ${reference} in ${this.description}`;
    return descriptorOf(rawFromBytes(await this.#blobs.readSmall(reference, what, { maxBytes: MAX_MANIFEST_SIZE }), { expected: reference, what }));
  }

  async getManifest(reference: string, options: Io = {}): Promise<RawManifest> {
    const descriptor = await this.resolve(reference, options);
    if (!descriptor) {
      const tags = (await this.listTags()).join(', ');
      throw new PolyarchError('MANIFEST_UNKNOWN', `${this.description}: no manifest "${reference}"${tags ? ` (tags: ${tags})` : ' (it has no tags)'}`);
    }
    const what = `manifest ${descriptor.digest} in ${this.description}`;
    const bytes = await this.#blobs.readSmall(descriptor.digest, what, { maxBytes: MAX_MANIFEST_SIZE });
    return rawFromBytes(bytes, { mediaType: descriptor.mediaType, expected: descriptor.digest, what });
  }

  /**
   * Stores the manifest's exact bytes. With `tag`, that tag's entry in index.json now points here.
   * Without one, an un-annotated entry is added (unless the digest is listed already), so the
   * manifest stays reachable; entries of that kind are dropped again once an index that lists
   * them is put, as the children of an index are reachable through it.
   */
  async putManifest(manifest: RawManifest, options: Io & { readonly tag?: string } = {}): Promise<void> {
    options.signal?.throwIfAborted();
    await this.#init();
    await this.#syncBlobs(); // index.json may name them from here on
    await this.#track(manifest.digest, () => this.#blobs.putBytes(manifest.digest, manifest.bytes));
    const tag = options.tag;
    const children = childrenOf(manifest);
    const keep = (d: Descriptor): boolean => isNamed(d) || !children.has(d.digest);
    await updateIndexJson(this.dir, (entries) => {
      if (tag === undefined) {
        if (entries.some((d) => d.digest === manifest.digest)) return entries;
        return [...entries.filter(keep), descriptorOf(manifest)];
      }
      return [...entries.filter((d) => keep(d) && tagOf(d) !== tag), descriptorOf(manifest, { annotations: { [REF_NAME]: tag } })];
    });
  }

  /** Removes index.json entries by tag or digest; the blobs stay until collectGarbage. */
  async deleteManifest(reference: string, options: Io = {}): Promise<void> {
    options.signal?.throwIfAborted();
    if (!this.#writable) throw new PolyarchError('USAGE', `${this.description} was opened for reading`);
    const matches = (d: Descriptor): boolean => (isDigest(reference) ? d.digest === reference : tagOf(d) === reference);
    let found = false;
    await updateIndexJson(this.dir, (entries) => {
      found = entries.some(matches);
      return entries.filter((d) => !matches(d));
    });
    if (!found) throw new PolyarchError('MANIFEST_UNKNOWN', `${this.description}: no manifest "${reference}" in index.json`);
  }

  /**
   * From now on, a blob's sync starts as soon as its bytes are written and runs beside the writes
   * of the others; the blobs are given their names together, once synced, before index.json is
   * next changed (or at close). A blob has no name under blobs/ until its bytes are durable, so a
   * crash leaves temp files, never a short blob. Copies use this: awaiting each blob's sync held
   * up the writes of the others, and syncing them all at the end left the disk idle until then.
   * The syncs run one after another: each holds one of the four thread-pool threads for as long
   * as the disk takes, and with several at once the other blobs' writes waited for a thread
   * (the 630 MB bench index into a layout: median 1.50 → 1.46 s over eight interleaved runs).
   */
  batchBlobSyncs(): void {
    this.#unsynced ??= new Map();
  }

  async hasBlob(descriptor: Descriptor, options: Io = {}): Promise<boolean> {
    void options;
    return this.#unsynced?.has(descriptor.digest) === true || this.#blobs.has(descriptor.digest);
  }

  /**
   * The blob's bytes, checked against its digest as they are read. With `trustOwnWrites`, a blob
   * this handle wrote (and checked as it did) is read unchecked: a build reads each base layer it
   * pulled twice more, and hashing a Debian root costs 0.25 s each time.
   */
  async openBlob(descriptor: Descriptor, options: Io & { readonly trustOwnWrites?: boolean } = {}): Promise<Readable> {
    if (this.#unsynced?.has(descriptor.digest)) await this.#syncBlobs();
    const { trustOwnWrites, ...io } = options;
    return this.#blobs.open(descriptor, { ...io, hashedOnWrite: trustOwnWrites === true && this.#added.has(descriptor.digest) });
  }

  async readBlobInto(descriptor: Descriptor, take: PieceTaker, options: Io = {}): Promise<void> {
    if (this.#unsynced?.has(descriptor.digest)) await this.#syncBlobs();
    return this.#blobs.readInto(descriptor, take, options);
  }

  async putBlob(descriptor: Descriptor, content: Readable, options: Io = {}): Promise<void> {
    try {
      await this.#init();
    } catch (error) {
      content.destroy();
      throw error;
    }
    const unsynced = this.#unsynced;
    if (!unsynced) {
      await this.#track(descriptor.digest, () => this.#blobs.put(descriptor, content, options));
      return;
    }
    if (unsynced.has(descriptor.digest)) {
      content.destroy();
      return;
    }
    await this.#syncLater(descriptor.digest, await this.#blobs.putUnsynced(descriptor, content, options));
  }

  /**
   * putBlob for a blob that `read` hands over piece by piece and verifies itself (a registry's
   * readBlobInto): each piece is written as read, with no stream between.
   */
  async putBlobFrom(descriptor: Descriptor, read: (take: PieceTaker) => Promise<void>): Promise<void> {
    await this.#init();
    if (this.#unsynced?.has(descriptor.digest)) return;
    const temp = await this.#blobs.putUnsyncedFrom(descriptor, read);
    if (this.#unsynced) await this.#syncLater(descriptor.digest, temp);
    else if (temp !== undefined) await this.#track(descriptor.digest, () => this.#blobs.placeSynced(descriptor.digest, temp));
  }

  /** Queues the sync of a blob's temp file (undefined: the blob was there already); it is named with the others. */
  async #syncLater(digest: Digest, temp: string | undefined): Promise<void> {
    if (temp === undefined) return;
    if (this.#unsynced!.has(digest)) {
      await rm(temp, { force: true }); // a concurrent put of the same blob won
      return;
    }
    const synced = this.#syncQueue.then(() => syncFile(temp));
    // A failed sync is reported when the blob is named; the queue goes on.
    this.#syncQueue = synced.catch(() => undefined);
    this.#unsynced!.set(digest, { temp, synced });
  }

  /** Whether this handle wrote the blob (absent before), checking its digest as it did. */
  wroteAndVerified(digest: Digest): boolean {
    return this.#added.has(digest);
  }

  /** Syncs and names every blob written so far with batched syncs (a copy that stops early keeps what it verified). */
  async flushBlobs(): Promise<void> {
    await this.#syncBlobs();
  }

  /** Waits for the sync of every blob written since the last call, then names each. */
  async #syncBlobs(): Promise<void> {
    const unsynced = this.#unsynced;
    if (!unsynced || unsynced.size === 0) return;
    const batch = [...unsynced];
    unsynced.clear();
    const results = await Promise.allSettled(batch.map(([digest, { temp, synced }]) => this.#track(digest, () => this.#blobs.placeSynced(digest, temp, synced))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Takes a file this process wrote and hashed inside the layout (a built layer) as the blob. */
  async adoptBlobFile(descriptor: Descriptor, path: string): Promise<void> {
    await this.#init();
    await this.#track(descriptor.digest, () => this.#blobs.adoptFile(descriptor.digest, path));
  }

  /**
   * Referrers of a manifest, found both ways layouts keep them: manifests listed in index.json
   * whose `subject` is this digest (oras; polyarch writes referrers that way, as untagged
   * entries), and the index under the `<alg>-<hex>` fallback tag (regclient's ocidir).
   */
  async listReferrers(digest: Digest, options: Io & { readonly artifactType?: string | undefined; readonly limit?: number | undefined } = {}): Promise<Descriptor[]> {
    options.signal?.throwIfAborted();
    const index = await readIndexJson(this.dir);
    const found = new Map<string, Descriptor>((await this.#referrersBySubject(index)).get(digest)?.map((d) => [d.digest, d]) ?? []);
    const listed = findEntry(index.manifests, referrersTag(digest));
    if (listed) {
      const what = `referrers of ${digest} in ${this.description} (tag ${referrersTag(digest)})`;
      const raw = rawFromBytes(await this.#blobs.readSmall(listed.digest, what, { maxBytes: MAX_MANIFEST_SIZE }), { mediaType: listed.mediaType, expected: listed.digest, what });
      for (const d of referrersListEntries(raw, what)) if (!found.has(d.digest)) found.set(d.digest, d);
    }
    const all = [...found.values()].filter((d) => options.artifactType === undefined || d.artifactType === options.artifactType);
    if (options.limit !== undefined && all.length > options.limit) throw new PolyarchError('LIMIT_EXCEEDED', `referrers of ${digest} in ${this.description}: more than ${options.limit}`);
    return all;
  }

  /**
   * Subject → referrers among the manifests index.json lists, read once per version of
   * index.json: a copy asks for every manifest it takes, and each read of them all would
   * cost one file per entry.
   */
  async #referrersBySubject(index: ImageIndex): Promise<Map<string, Descriptor[]>> {
    if (this.#subjects?.indexDigest === index.raw.digest) return this.#subjects.bySubject;
    const bySubject = new Map<string, Descriptor[]>();
    const seen = new Set<string>();
    for (const entry of index.manifests) {
      if (!isManifest(entry.mediaType) || seen.has(entry.digest)) continue;
      seen.add(entry.digest);
      const what = `manifest ${entry.digest} in ${this.description}`;
      try {
        const raw = rawFromBytes(await this.#blobs.readSmall(entry.digest, what, { maxBytes: MAX_MANIFEST_SIZE }), { mediaType: entry.mediaType, expected: entry.digest, what });
        const subject = subjectOf(raw, what);
        if (subject !== undefined && subject.digest !== raw.digest) bySubject.set(subject.digest, [...(bySubject.get(subject.digest) ?? []), referrerDescriptor(raw, what)]);
      } catch {
        // one unreadable entry does not hide the referrers of every other
      }
    }
    this.#subjects = { indexDigest: index.raw.digest, bySubject };
    return bySubject;
  }

  async listTags(options: Io = {}): Promise<string[]> {
    void options;
    return tagsOf((await readIndexJson(this.dir)).manifests);
  }

  /**
   * Every write is durable once this returns (batched blob syncs are done here at the latest). With `discard` (a failed copy),
   * the blobs this handle added are removed again unless index.json reaches them by now (another
   * writer may have tagged an image that shares them), so a failure leaves the layout as it was.
   */
  async close(options: Io & { readonly discard?: boolean } = {}): Promise<void> {
    if (options.discard && this.#unsynced) {
      const temps = [...this.#unsynced.values()];
      this.#unsynced.clear();
      await Promise.all(temps.map(({ temp }) => rm(temp, { force: true })));
    } else await this.#syncBlobs();
    if (!options.discard || this.#added.size === 0) return;
    const added = [...this.#added];
    this.#added.clear();
    await withLayoutLock(this.dir, async () => {
      const reachable = await this.#reachable();
      await Promise.all(added.filter((d) => !reachable.has(d)).map((d) => rm(this.#blobs.pathOf(d), { force: true })));
    });
  }

  /** Digests index.json reaches through manifests and indexes (unreadable ones end the walk there). */
  async #reachable(): Promise<Set<string>> {
    const seen = new Set<string>();
    const queue: Descriptor[] = [...(await readIndexJson(this.dir)).manifests];
    for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
      if (seen.has(d.digest)) continue;
      seen.add(d.digest);
      if (!/manifest|index/i.test(d.mediaType ?? '')) continue; // configs and layers lead nowhere
      let raw: RawManifest;
      try {
        raw = rawFromBytes(await this.#blobs.readSmall(d.digest, `manifest ${d.digest}`, { maxBytes: MAX_MANIFEST_SIZE }), { mediaType: d.mediaType, expected: d.digest });
      } catch {
        continue; // a layer, a missing blob or something unreadable: nothing below it
      }
      try {
        const body = JSON.parse(raw.bytes.toString('utf8')) as { config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[]; subject?: Descriptor };
        for (const next of [body.config, ...(body.layers ?? []), ...(body.manifests ?? []), body.subject]) {
          if (next && typeof next.digest === 'string') queue.push(next);
        }
      } catch {
        // not JSON: a blob listed in index.json, kept as it is
      }
    }
    return seen;
  }

  /** Runs a write and remembers the digest when the blob was not there before it. */
  async #track(digest: Digest, write: () => Promise<void>): Promise<void> {
    const before = await this.#blobs.has(digest);
    await write();
    if (!before) this.#added.add(digest);
  }

  /** Creates the layout on first write. */
  #init(): Promise<void> {
    if (!this.#writable) return Promise.reject(new PolyarchError('USAGE', `${this.description} was opened for reading`));
    this.#initialized ??= initLayout(this.dir).catch((error: unknown) => {
      this.#initialized = undefined; // a later write tries again
      throw error;
    });
    return this.#initialized;
  }
}

/**
 * Opens a layout. For reading it must exist (LAYOUT_INVALID naming the directory otherwise);
 * for writing (`create`) it is created on first write, and temp files a crashed writer left are
 * cleared. `writable` alone: an existing layout whose entries may change (a tag deleted).
 */
export async function openLayout(dir: string, options: { readonly create?: boolean; readonly writable?: boolean } = {}): Promise<OciLayout> {
  if (options.create) {
    await checkDestinationKind(dir, 'layout', `oci:${dir}`);
    // Temps live in the root, blobs/<alg>/ and one level of polyarch's own folders.
    await removeOrphanTemps(dir, { maxDepth: 2 });
    return new OciLayout(dir, true);
  }
  if (!(await exists(join(dir, 'oci-layout')))) {
    const why = (await exists(dir)) ? 'no oci-layout file' : 'no such directory';
    throw new PolyarchError('LAYOUT_INVALID', `${dir} is not an OCI image layout (${why})`);
  }
  return new OciLayout(dir, options.writable === true);
}
