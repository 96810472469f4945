// Referrers of a manifest: the OCI 1.1 API, or, when the registry answers 404, the index kept
// under the tag `<alg>-<hex>` (distribution-spec "Referrers Tag Schema"). Pushing a referrer to a
// registry without the API keeps that tag's index up to date, as oras and regclient do.
import type { Digest } from '../digest/digest.js';
import { isPolyarchError, PolyarchError } from '../errors/polyarch-error.js';
import type { Descriptor } from '../image/descriptor.js';
import { buildIndex } from '../image/index.js';
import { rawFromBytes, type RawManifest } from '../image/raw-manifest.js';
import { referrerDescriptor, referrersListEntries, referrersTag } from '../image/referrer.js';
import { baseMediaType, MediaType } from '../mediatype/mediatype.js';
import { readAllLimited } from '../internal/streams.js';
import { pullScope, repoPath, type IoOptions, type RepositoryContext } from './context.js';
import { getManifest, putManifest } from './manifests.js';
import { errorFromHttp } from './response-error.js';
import { discardBody, headerValue, isCutError } from './transport/http.js';
import { nextLink } from './tags.js';

export { referrersTag } from '../image/referrer.js';

export interface ReferrersOptions extends IoOptions {
  readonly artifactType?: string | undefined;
  /** More entries than this (over all pages) is an error: a hostile registry could page forever. */
  readonly limit?: number | undefined;
}

/** Entries allowed when the caller names no limit. */
export const DEFAULT_REFERRERS_LIMIT = 10_000;

function tooMany(what: string, limit: number): PolyarchError {
  return new PolyarchError('LIMIT_EXCEEDED', `${what}: more than ${limit} referrers`);
}

export async function listReferrers(ctx: RepositoryContext, digest: Digest, options: ReferrersOptions = {}): Promise<Descriptor[]> {
  const what = `referrers of ${ctx.host}/${ctx.repository}@${digest}`;
  const filter = options.artifactType;
  const limit = options.limit ?? DEFAULT_REFERRERS_LIMIT;
  const keep = (list: Descriptor[]): Descriptor[] => (filter === undefined ? list : list.filter((d) => d.artifactType === filter));
  let path: string | undefined = repoPath(ctx, `referrers/${digest}`) + (filter !== undefined ? `?artifactType=${encodeURIComponent(filter)}` : '');
  const found: Descriptor[] = [];
  const seen = new Set<string>();
  while (path !== undefined) {
    const response = await ctx.send({ method: 'GET', path, headers: { accept: MediaType.OciIndex }, scopes: [pullScope(ctx.repository)], signal: options.signal });
    if (response.status === 404 && found.length === 0) {
      await discardBody(response.body);
      const fromFallback = keep(await fromTag(ctx, digest, what, options));
      if (fromFallback.length > limit) throw tooMany(what, limit);
      return fromFallback;
    }
    if (response.status !== 200) throw await errorFromHttp('GET', response, what);
    const bytes = await readAllLimited(response.body, ctx.maxManifestSize, what).catch((error: unknown) => {
      if (isCutError(error)) throw new PolyarchError('NETWORK', `${what}: connection lost while reading the referrers list`, { cause: error });
      throw error;
    });
    // The answer must be an OCI index (spec: MUST); a JSON body without a type is read as one.
    const declared = baseMediaType(headerValue(response.headers, 'content-type') ?? '');
    const mediaType = declared === '' || declared === 'application/json' ? MediaType.OciIndex : declared;
    const entries = referrersListEntries(rawFromBytes(bytes, { mediaType, what }), what);
    // A registry that did not apply the filter says so by leaving out OCI-Filters-Applied.
    const filtered = (headerValue(response.headers, 'oci-filters-applied') ?? '').split(',').map((s) => s.trim()).includes('artifactType');
    found.push(...(filtered ? entries : keep(entries)));
    if (found.length > limit) throw tooMany(what, limit);
    const next = nextLink(response);
    path = next !== undefined && !seen.has(next) ? next : undefined;
    if (next !== undefined) seen.add(next);
  }
  return found;
}

async function fromTag(ctx: RepositoryContext, digest: Digest, what: string, options: IoOptions): Promise<Descriptor[]> {
  const list = await tagIndex(ctx, digest, options);
  return list === undefined ? [] : referrersListEntries(list, `${what} (tag ${referrersTag(digest)})`);
}

/** The index under the subject's fallback tag, or undefined when there is none. */
async function tagIndex(ctx: RepositoryContext, digest: Digest, options: IoOptions): Promise<RawManifest | undefined> {
  try {
    return await getManifest(ctx, referrersTag(digest), options);
  } catch (error) {
    if (isPolyarchError(error) && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'NOT_FOUND' || error.code === 'NAME_UNKNOWN')) return undefined;
    throw error;
  }
}

/** Answers of a registry that has no referrers API: 404 as the spec says, and what older registries send for an unknown route. */
const NO_API_STATUS = new Set([400, 404, 405, 406, 501]);

/** Whether the registry answers the referrers API for this subject (regclient's ping before it writes). */
export async function hasReferrersApi(ctx: RepositoryContext, digest: Digest, options: IoOptions = {}): Promise<boolean> {
  const response = await ctx.send({ method: 'GET', path: repoPath(ctx, `referrers/${digest}`), headers: { accept: MediaType.OciIndex }, scopes: [pullScope(ctx.repository)], signal: options.signal });
  if (response.status !== 200 && !NO_API_STATUS.has(response.status)) throw await errorFromHttp('GET', response, `referrers of ${ctx.host}/${ctx.repository}@${digest}`);
  await discardBody(response.body);
  return response.status === 200;
}

/**
 * Adds a pushed referrer to its subject's fallback-tag index (read, merge, write; entries
 * already there are kept). Distribution 2.8 has no If-Match, so two writers racing may lose one
 * entry; pushing the referrer again puts it back.
 */
export async function addToReferrersTag(ctx: RepositoryContext, referrer: RawManifest, subject: Digest, options: IoOptions = {}): Promise<void> {
  const tag = referrersTag(subject);
  const current = await tagIndex(ctx, subject, options);
  const entries = current === undefined ? [] : referrersListEntries(current, `referrers of ${ctx.host}/${ctx.repository}@${subject} (tag ${tag})`);
  if (entries.some((d) => d.digest === referrer.digest)) return;
  const index = buildIndex([...entries, referrerDescriptor(referrer)], { mediaType: MediaType.OciIndex });
  await putManifest(ctx, index, { ...options, tag });
}
