// Tag and repository listings, following `Link: <…>; rel="next"` pagination.
import { PolyarchError } from '../errors/polyarch-error.js';
import { errorFromHttp, readErrorText } from './response-error.js';
import { pullScope, repoPath, type IoOptions, type RegistryContext, type RepositoryContext } from './context.js';
import { headerValue, type HttpResponse } from './transport/http.js';

export interface ListOptions extends IoOptions {
  /** Page size asked of the registry (`n`); the registry may send fewer. */
  readonly pageSize?: number | undefined;
}

const MAX_PAGES = 10_000;

/** The `rel="next"` target of a Link header, resolved against the URL that sent it. */
export function nextLink(response: HttpResponse): string | undefined {
  const link = headerValue(response.headers, 'link');
  if (link === undefined) return undefined;
  for (const part of link.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (match && /;\s*rel\s*=\s*"?next"?/i.test(match[2] as string)) return new URL(match[1] as string, response.url).toString();
  }
  return undefined;
}

async function listPaged(
  ctx: RegistryContext,
  firstPath: string,
  field: 'tags' | 'repositories',
  scopes: readonly string[],
  what: string,
  options: ListOptions,
): Promise<string[]> {
  const items: string[] = [];
  const seen = new Set<string>();
  let path: string | undefined = options.pageSize !== undefined ? `${firstPath}?n=${options.pageSize}` : firstPath;
  for (let page = 0; path !== undefined && page < MAX_PAGES; page++) {
    const response: HttpResponse = await ctx.send({ method: 'GET', path, scopes, signal: options.signal });
    if (response.status !== 200) throw await errorFromHttp('GET', response, what);
    const text = await readErrorText(response.body);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new PolyarchError('SERVER_ERROR', `${what}: the registry answered with something that is not JSON`);
    }
    const list = body[field];
    if (Array.isArray(list)) for (const item of list) if (typeof item === 'string') items.push(item);
    const next = nextLink(response);
    if (next === undefined || seen.has(next)) break; // a Link that loops is the registry's bug, not ours to follow forever
    seen.add(next);
    path = next;
  }
  return items;
}

/** Tags of the repository, sorted. */
export async function listTags(ctx: RepositoryContext, options: ListOptions = {}): Promise<string[]> {
  const tags = await listPaged(ctx, repoPath(ctx, 'tags/list'), 'tags', [pullScope(ctx.repository)], `listing tags of ${ctx.host}/${ctx.repository}`, options);
  return [...new Set(tags)].sort();
}

/** Repositories of the registry (`/v2/_catalog`), sorted. */
export async function listCatalog(ctx: RegistryContext, options: ListOptions = {}): Promise<string[]> {
  const repositories = await listPaged(ctx, '/v2/_catalog', 'repositories', ['registry:catalog:*'], `listing repositories of ${ctx.host}`, options);
  return [...new Set(repositories)].sort();
}
