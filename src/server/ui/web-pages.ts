// Which web page a GET asks for, and its HTML: `/` (repositories, `?q=` search, `?page=`),
// `/r/<repository>` (its tags, `?page=`) and `/r/<repository>/-/<tag>`. Names in the path are
// checked against the reference grammar before anything on disk is touched, so `..`, encoded
// slashes or other bytes in a name are a 404, never a path outside the store.
import type { RegistryStorage } from '../storage.js';
import { repositoryPage, tagPage } from './api.js';
import { readTagDetail } from './tag-detail.js';
import { isRepositoryName, isTagName, renderMessage, renderRepository, renderRepositoryList, renderTag } from './views.js';

export interface WebPage {
  readonly status: number;
  readonly body: string;
}

/** Repositories or tags per page. */
const PER_PAGE = 20;

/** Whether a GET of `path` is one of the pages (answered by renderWebPage). */
export function isWebPagePath(path: string): boolean {
  return path === '/' || path.startsWith('/r/');
}

const notFound = (what: string): WebPage => ({ status: 404, body: renderMessage('Not found', what) });

/** The `host[:port]` pull commands name: the one the browser used, when it is a plain host. */
export function pullHost(header: string | undefined): string {
  return header !== undefined && /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/.test(header) ? header : 'REGISTRY';
}

function pageNumber(url: URL): number | undefined {
  const text = url.searchParams.get('page');
  if (text === null) return 1;
  return /^[1-9]\d{0,8}$/.test(text) ? Number(text) : undefined;
}

export async function renderWebPage(storage: RegistryStorage, url: URL, host: string): Promise<WebPage> {
  const page = pageNumber(url);
  if (page === undefined) return { status: 400, body: renderMessage('Bad request', 'page must be a whole number from 1.') };
  if (url.pathname === '/') {
    const search = (url.searchParams.get('q') ?? '').trim();
    if (search.length > 255) return { status: 400, body: renderMessage('Bad request', 'The search is longer than a repository name can be.') };
    return { status: 200, body: renderRepositoryList(await repositoryPage(storage, search, { page, perPage: PER_PAGE }, 1), search) };
  }
  const rest = url.pathname.slice('/r/'.length);
  const split = rest.indexOf('/-/');
  const name = split < 0 ? rest : rest.slice(0, split);
  if (!isRepositoryName(name) || !(await storage.repositoryExists(name))) return notFound('There is no repository of that name.');
  if (split < 0) return { status: 200, body: renderRepository(await tagPage(storage, name, { page, perPage: PER_PAGE }), host) };
  const tag = rest.slice(split + '/-/'.length);
  const detail = isTagName(tag) ? await readTagDetail(storage, name, tag) : undefined;
  return detail ? { status: 200, body: renderTag(detail, host) } : notFound(`The repository has no tag of that name.`);
}
