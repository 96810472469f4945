// Manifests by tag or digest: exact bytes, capped in size, verified against the digest asked
// for (or the one the registry declares), pushed with the bare media type as Content-Type.
import { isDigest, type Digest } from '../digest/digest.js';
import { verifyBytes } from '../digest/verify-stream.js';
import { isPolyarchError, PolyarchError } from '../errors/polyarch-error.js';
import type { Descriptor } from '../image/descriptor.js';
import { rawFromBytes, type RawManifest } from '../image/raw-manifest.js';
import { MANIFEST_ACCEPT, baseMediaType } from '../mediatype/mediatype.js';
import { readAllLimited } from '../internal/streams.js';
import { deleteScope, describeReference, pullScope, pushScope, repoPath, type IoOptions, type RepositoryContext } from './context.js';
import { errorFromHttp } from './response-error.js';
import { discardBody, headerValue, isCutError } from './transport/http.js';

const ACCEPT = MANIFEST_ACCEPT.join(', ');

function tooLarge(ctx: RepositoryContext, what: string, size: number | string): PolyarchError {
  return new PolyarchError('SIZE_INVALID', `${what}: ${size} bytes is over the manifest limit of ${ctx.maxManifestSize} bytes; raise --max-manifest-size (maxManifestSize)`);
}

function digestHeader(headers: Readonly<Record<string, string | string[] | undefined>>): Digest | undefined {
  const value = headerValue(headers, 'docker-content-digest')?.trim();
  return value !== undefined && isDigest(value) ? value : undefined;
}

export async function getManifest(ctx: RepositoryContext, reference: string, options: IoOptions = {}): Promise<RawManifest> {
  const what = `manifest ${describeReference(ctx, reference)}`;
  // A manifest is small and its GET idempotent: a body cut short is fetched again, whole.
  for (let attempt = 0; ; attempt++) {
    const response = await ctx.send({
      method: 'GET',
      path: repoPath(ctx, `manifests/${reference}`),
      headers: { accept: ACCEPT },
      scopes: [pullScope(ctx.repository)],
      signal: options.signal,
    });
    if (response.status !== 200) throw await errorFromHttp('GET', response, what);
    const declared = Number(headerValue(response.headers, 'content-length'));
    if (Number.isFinite(declared) && declared > ctx.maxManifestSize) {
      await discardBody(response.body);
      throw tooLarge(ctx, what, declared);
    }
    let bytes: Buffer;
    try {
      bytes = await readAllLimited(response.body, ctx.maxManifestSize, what);
    } catch (error) {
      if (error instanceof RangeError) throw tooLarge(ctx, what, `more than ${ctx.maxManifestSize}`);
      if (options.signal?.aborted) throw options.signal.reason;
      if (!isCutError(error)) throw error;
      if (attempt < ctx.retries) continue;
      throw new PolyarchError('NETWORK', `${what}: connection lost while reading the manifest (${attempt + 1} attempts)`, { cause: error });
    }
    // By digest, the bytes must hash to it; by tag, to the digest the registry declares.
    const expected = isDigest(reference) ? reference : digestHeader(response.headers);
    const mediaType = headerValue(response.headers, 'content-type');
    try {
      return rawFromBytes(bytes, { what, ...(expected !== undefined ? { expected } : {}), ...(mediaType !== undefined ? { mediaType } : {}) });
    } catch (error) {
      // Bytes spoiled on the way are fetched once more; a registry that keeps sending them is reported.
      if (isPolyarchError(error) && error.code === 'DIGEST_MISMATCH' && attempt < Math.min(1, ctx.retries)) continue;
      throw error;
    }
  }
}

/** The descriptor a tag or digest points at, from HEAD; undefined when the registry has none. */
export async function headManifest(ctx: RepositoryContext, reference: string, options: IoOptions = {}): Promise<Descriptor | undefined> {
  const what = `manifest ${describeReference(ctx, reference)}`;
  const response = await ctx.send({
    method: 'HEAD',
    path: repoPath(ctx, `manifests/${reference}`),
    headers: { accept: ACCEPT },
    scopes: [pullScope(ctx.repository)],
    signal: options.signal,
  });
  if (response.status === 404) {
    await discardBody(response.body);
    return undefined;
  }
  if (response.status !== 200) throw await errorFromHttp('HEAD', response, what);
  await discardBody(response.body);
  const digest = isDigest(reference) ? reference : digestHeader(response.headers);
  const size = Number(headerValue(response.headers, 'content-length'));
  const mediaType = headerValue(response.headers, 'content-type');
  if (digest === undefined || !Number.isSafeInteger(size) || mediaType === undefined || baseMediaType(mediaType) === '') {
    // Docker-Content-Digest is only a SHOULD: without it, hash the body (containerd does the same).
    const raw = await getManifest(ctx, reference, options);
    return { mediaType: raw.mediaType, digest: raw.digest, size: raw.size };
  }
  return { mediaType: baseMediaType(mediaType), digest, size };
}

/** What a push stored; `ociSubject` when the registry says it processed the manifest's subject (it has the referrers API). */
export interface PushedManifest extends Descriptor {
  readonly ociSubject?: Digest;
}

/** Pushes the exact bytes under `tag` (or by digest) and checks the digest the registry computed. */
export async function putManifest(ctx: RepositoryContext, manifest: RawManifest, options: IoOptions & { readonly tag?: string | undefined } = {}): Promise<PushedManifest> {
  const reference = options.tag ?? manifest.digest;
  const what = `manifest ${describeReference(ctx, reference)}`;
  if (manifest.bytes.length > ctx.maxManifestSize) throw tooLarge(ctx, what, manifest.bytes.length);
  verifyBytes(manifest.bytes, { digest: manifest.digest, size: manifest.size, what });
  const response = await ctx.send({
    method: 'PUT',
    path: repoPath(ctx, `manifests/${reference}`),
    headers: { 'content-type': baseMediaType(manifest.mediaType) },
    body: manifest.bytes,
    scopes: [pushScope(ctx.repository)],
    signal: options.signal,
  });
  if (response.status !== 201 && response.status !== 200 && response.status !== 202) throw await errorFromHttp('PUT', response, what);
  await discardBody(response.body);
  const stored = digestHeader(response.headers);
  if (stored !== undefined && stored !== manifest.digest) {
    throw new PolyarchError('DIGEST_MISMATCH', `${what}: the registry stored it as ${stored}, not ${manifest.digest} (it changed the bytes)`);
  }
  const subject = headerValue(response.headers, 'oci-subject')?.trim();
  return { mediaType: baseMediaType(manifest.mediaType), digest: manifest.digest, size: manifest.size, ...(subject !== undefined && isDigest(subject) ? { ociSubject: subject } : {}) };
}

export async function deleteManifest(ctx: RepositoryContext, reference: string, options: IoOptions = {}): Promise<void> {
  const what = `deleting manifest ${describeReference(ctx, reference)}`;
  const response = await ctx.send({
    method: 'DELETE',
    path: repoPath(ctx, `manifests/${reference}`),
    scopes: [deleteScope(ctx.repository)],
    signal: options.signal,
  });
  if (response.status !== 202 && response.status !== 200 && response.status !== 204) throw await errorFromHttp('DELETE', response, what);
  await discardBody(response.body);
}
