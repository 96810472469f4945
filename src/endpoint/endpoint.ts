import type { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.js';
import type { Descriptor } from '../image/descriptor.js';
import type { RawManifest } from '../image/raw-manifest.js';
import type { PieceTaker } from '../internal/streams.js';

export interface IoOptions {
  readonly signal?: AbortSignal;
}

export type EndpointKind = 'registry' | 'oci-layout' | 'oci-archive' | 'docker-archive';

/**
 * One place images live: a registry repository, an OCI layout, or an archive. Every operation in
 * `ops/` works through this interface, so copying layout → registry and registry → tarball is the
 * same code (regclient's scheme.API).
 */
export interface Endpoint {
  readonly kind: EndpointKind;
  /** Names the place in messages: `registry 127.0.0.1:5000/app`, `oci:./out`. */
  readonly description: string;
  /** For registries: host and repository, so a copy within one registry can mount blobs. */
  readonly registry?: { readonly host: string; readonly repository: string };

  /** The descriptor a tag or digest points at, or undefined when there is none. */
  resolve(reference: string, options?: IoOptions): Promise<Descriptor | undefined>;
  /** A manifest by tag or digest: exact bytes, verified against the digest. Throws MANIFEST_UNKNOWN when absent. */
  getManifest(reference: string, options?: IoOptions): Promise<RawManifest>;
  /** Stores a manifest's exact bytes; with `tag`, points that tag at it. */
  putManifest(manifest: RawManifest, options?: IoOptions & { readonly tag?: string }): Promise<void>;
  /** Removes a tag or a manifest by digest. */
  deleteManifest(reference: string, options?: IoOptions): Promise<void>;

  /** Whether the blob is stored here (by digest; the size is not re-read). */
  hasBlob(descriptor: Descriptor, options?: IoOptions): Promise<boolean>;
  /** The blob's bytes; the stream errors before its end when the digest or size is wrong. */
  openBlob(descriptor: Descriptor, options?: IoOptions): Promise<Readable>;
  /** Stores a blob from a stream, verified against the descriptor before it becomes visible. */
  putBlob(descriptor: Descriptor, content: Readable, options?: IoOptions): Promise<void>;
  /**
   * The blob's bytes handed to `take` piece by piece instead of streamed, each piece valid until
   * its take settles; verified as openBlob's (the piece that completes the size is handed over
   * only when the digest matches). Where a copy gains from it: a plain-HTTP socket's reads or a
   * layout file's, into reused buffers.
   */
  readBlobInto?(descriptor: Descriptor, take: PieceTaker, options?: IoOptions): Promise<void>;
  /** putBlob for bytes that `read` hands over piece by piece and verifies (a source's readBlobInto). */
  putBlobFrom?(descriptor: Descriptor, read: (take: PieceTaker) => Promise<void>, options?: IoOptions): Promise<void>;
  /** Cross-repository mount within one registry; false when the registry asks for an upload instead. */
  mountBlob?(descriptor: Descriptor, fromRepository: string, options?: IoOptions): Promise<boolean>;

  /**
   * For stores on local disk: from now on, sync each blob beside the writes of the others and
   * name them together (before a manifest names them) instead of one by one. A copy asks for it;
   * a store without it syncs as it likes.
   */
  batchBlobSyncs?(): void;
  /** Makes every blob written so far durable and visible (with batched syncs, a copy that stops early keeps them). */
  flushBlobs?(): Promise<void>;

  /**
   * Manifests whose `subject` is `digest` (registries: the referrers API, else the `<alg>-<hex>`
   * fallback tag; layouts: index.json entries and that tag). More than `limit` is LIMIT_EXCEEDED.
   * Absent where nothing can refer (docker archives).
   */
  listReferrers?(digest: Digest, options?: IoOptions & { readonly artifactType?: string; readonly limit?: number }): Promise<Descriptor[]>;

  /** Tags in this repository or layout, in lexical order. */
  listTags(options?: IoOptions): Promise<string[]>;
  /**
   * Finishes pending writes (an archive file is written here, atomically) and releases resources.
   * With `discard`, pending writes are dropped instead: after a failed copy nothing half-written appears.
   */
  close(options?: IoOptions & { readonly discard?: boolean }): Promise<void>;
}
