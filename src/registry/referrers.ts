// Referrers of a manifest: the OCI 1.1 API, or, when the registry answers 404, the index kept
// under the tag `<alg>-<hex>` (distribution-spec "Referrers Tag Schema").
import { algorithmOf, encodedPart, type Digest } from '../digest/digest.js';
import { isPolyarchError, PolyarchError } from '../errors/polyarch-error.js';
import { parseDescriptor, type Descriptor } from '../image/descriptor.js';
import { parseJsonObject } from '../image/raw-manifest.js';
import { MediaType } from '../mediatype/mediatype.js';
import { readAllLimited } from '../internal/streams.js';
import { pullScope, repoPath, type IoOptions, type RepositoryContext } from './context.js';
import { getManifest } from './manifests.js';
import { errorFromHttp } from './response-error.js';
import { discardBody, headerValue, isCutError } from './transport/http.js';
import { nextLink } from './tags.js';

export interface ReferrersOptions extends IoOptions {
  readonly artifactType?: string | undefined;
}

/** The fallback tag for a subject digest: `sha256-<hex>`, at most 128 characters as tags allow. */
export function referrersTag(digest: Digest): string {
  return `${algorithmOf(digest)}-${encodedPart(digest)}`.slice(0, 128);
}

function entriesOf(bytes: Buffer, what: string): Descriptor[] {
  const body = parseJsonObject(bytes, what);
  const manifests = Array.isArray(body.manifests) ? body.manifests : [];
  return manifests.map((m, i) => parseDescriptor(m, `${what} entry ${i}`));
}

export async function listReferrers(ctx: RepositoryContext, digest: Digest, options: ReferrersOptions = {}): Promise<Descriptor[]> {
  const what = `referrers of ${ctx.host}/${ctx.repository}@${digest}`;
  const filter = options.artifactType;
  const keep = (list: Descriptor[]): Descriptor[] => (filter === undefined ? list : list.filter((d) => d.artifactType === filter));
  let path: string | undefined = repoPath(ctx, `referrers/${digest}`) + (filter !== undefined ? `?artifactType=${encodeURIComponent(filter)}` : '');
  const found: Descriptor[] = [];
  const seen = new Set<string>();
  while (path !== undefined) {
    const response = await ctx.send({ method: 'GET', path, headers: { accept: MediaType.OciIndex }, scopes: [pullScope(ctx.repository)], signal: options.signal });
    if (response.status === 404 && found.length === 0) {
      await discardBody(response.body);
      return keep(await fromTag(ctx, digest, what, options));
    }
    if (response.status !== 200) throw await errorFromHttp('GET', response, what);
    const bytes = await readAllLimited(response.body, ctx.maxManifestSize, what).catch((error: unknown) => {
      if (isCutError(error)) throw new PolyarchError('NETWORK', `${what}: connection lost while reading the referrers list`, { cause: error });
      throw error;
    });
    // A registry that did not apply the filter says so by leaving out OCI-Filters-Applied.
    const filtered = (headerValue(response.headers, 'oci-filters-applied') ?? '').split(',').map((s) => s.trim()).includes('artifactType');
    const entries = entriesOf(bytes, what);
    found.push(...(filtered ? entries : keep(entries)));
    const next = nextLink(response);
    path = next !== undefined && !seen.has(next) ? next : undefined;
    if (next !== undefined) seen.add(next);
  }
  return found;
}

async function fromTag(ctx: RepositoryContext, digest: Digest, what: string, options: IoOptions): Promise<Descriptor[]> {
  try {
    const index = await getManifest(ctx, referrersTag(digest), options);
    return entriesOf(index.bytes, `${what} (tag ${referrersTag(digest)})`);
  } catch (error) {
    if (isPolyarchError(error) && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'NOT_FOUND' || error.code === 'NAME_UNKNOWN')) return [];
    throw error;
  }
}
