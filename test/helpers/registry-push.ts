// Pushing blobs and manifests to a registry with plain fetch, as any client would: tests that
// need exact bytes on the server (hostile, shared or dangling ones) build them by hand here.
import assert from 'node:assert/strict';
import { digestOfBytes, type Digest } from '../../src/digest/digest.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

export interface Desc {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
}

/** A one-request blob push (`POST ?digest=`); asserts 201. */
export async function pushBlob(url: string, repo: string, content: string | Buffer, mediaType = OCI_LAYER): Promise<Desc> {
  const bytes = Buffer.from(content);
  const digest = digestOfBytes(bytes);
  const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
  assert.equal(res.status, 201, await res.text());
  return { mediaType, digest, size: bytes.length };
}

/** PUTs `body` as JSON under `reference` (its digest when undefined); asserts 201. */
export async function pushManifest(url: string, repo: string, reference: string | undefined, body: Record<string, unknown>): Promise<Desc> {
  const bytes = Buffer.from(JSON.stringify(body));
  const digest = digestOfBytes(bytes);
  const mediaType = body.mediaType as string;
  const res = await fetch(`${url}/v2/${repo}/manifests/${reference ?? digest}`, { method: 'PUT', headers: { 'content-type': mediaType }, body: bytes });
  assert.equal(res.status, 201, await res.text());
  return { mediaType, digest, size: bytes.length };
}
