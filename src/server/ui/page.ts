// The registry's web page: a small static page that renders /api/repositories, like Docker
// Hub's tag page (platform matrix per tag), a page of repositories at a time with a name search;
// a repository's older tags are fetched from /api/tags on demand. No build step, no framework.
// Everything it shows comes from manifests anyone with push rights stored, so the script
// builds the DOM with textContent only (never HTML strings), and the page carries no inline
// script or style: the server's Content-Security-Policy allows only same-origin files.
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>polyarch registry</title>
<link rel="stylesheet" href="/ui/app.css">
<script src="/ui/app.js" defer></script>
</head>
<body><h1>polyarch registry</h1>
<form id="search"><input id="q" type="search" name="q" placeholder="search repositories" aria-label="search repositories"> <button type="submit">Search</button></form>
<div id="repos" class="muted">loading…</div><nav id="pager" class="muted"></nav></body></html>`;

const STYLE = `body{font:14px system-ui,sans-serif;margin:2rem;color:#1d2330;background:#f6f7f9}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
.tag{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.8rem 1rem;margin:.8rem 0}
.kind{font-size:.75rem;padding:.1rem .4rem;border-radius:4px;background:#e6efff;color:#1d4ed8;margin-left:.5rem}
table{border-collapse:collapse;margin-top:.5rem;width:100%}th,td{text-align:left;padding:.25rem .6rem;border-bottom:1px solid #eef0f3}
td.digest{font-family:ui-monospace,monospace;font-size:.8rem}.muted{color:#6b7280}.error{color:#b91c1c}
#pager a{margin-right:1rem}button.more{margin:.2rem 0 1rem}
`;

// Plain browser JavaScript. Every value is checked for its type and reaches the page through
// textContent or setAttribute, so a stored string can never become markup.
const SCRIPT = `'use strict';
(() => {
  const root = document.getElementById('repos');
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  };
  const text = (v, fallback) => (typeof v === 'string' ? v : fallback);
  const size = (n) => {
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return 'unknown';
    return n >= 1e6 ? (n / 1e6).toFixed(1) + ' MB' : n >= 1e3 ? (n / 1e3).toFixed(1) + ' kB' : n + ' B';
  };
  const list = (v) => (Array.isArray(v) ? v.filter((x) => x !== null && typeof x === 'object') : []);
  const fail = (message) => {
    root.className = 'error';
    root.replaceChildren(el('p', {}, message));
  };
  const platformRow = (p) => {
    const digest = text(p.digest, '');
    return el('tr', { class: 'platform' },
      el('td', {}, p.attestation === true ? 'attestation' : text(p.platform, 'unknown')),
      el('td', { class: 'digest' }, digest.length > 19 ? digest.slice(0, 19) + '…' : digest),
      el('td', {}, size(p.size)),
      el('td', {}, text(p.created, '')));
  };
  const tagBlock = (t) => {
    const platforms = list(t.platforms);
    const kind = t.kind === 'index' ? 'index · ' + platforms.filter((p) => p.attestation !== true).length + ' platforms' : text(t.kind, 'other');
    const block = el('div', { class: 'tag', 'data-tag': text(t.tag, '') }, el('strong', {}, text(t.tag, '')), el('span', { class: 'kind' }, kind));
    if (typeof t.referrers === 'number' && t.referrers > 0) block.append(' ', el('span', { class: 'muted' }, t.referrers + ' referrer(s)'));
    block.append(
      el('div', { class: 'muted digest' }, text(t.digest, '')),
      el('table', {},
        el('thead', {}, el('tr', {}, el('th', {}, 'OS/ARCH'), el('th', {}, 'DIGEST'), el('th', {}, 'SIZE'), el('th', {}, 'CREATED'))),
        el('tbody', {}, ...platforms.map(platformRow))));
    return block;
  };
  const count = (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);
  const query = new URLSearchParams(location.search);
  const search = query.get('q') || '';
  const pageNumber = /^[1-9][0-9]{0,8}$/.test(query.get('page') || '') ? Number(query.get('page')) : 1;
  const TAGS = 10;
  document.getElementById('q').value = search;
  document.getElementById('search').addEventListener('submit', (event) => {
    event.preventDefault();
    const q = document.getElementById('q').value.trim();
    location.search = q ? '?' + new URLSearchParams({ q }).toString() : '';
  });
  const pageLink = (n, label) => el('a', { href: '?' + new URLSearchParams(search ? { q: search, page: String(n) } : { page: String(n) }).toString() }, label);
  // The tags past the first page, fetched a page at a time and put before the button.
  const moreButton = (name, shown, total) => {
    const button = el('button', { class: 'more', type: 'button' }, 'more tags (' + (total - shown) + ')');
    let next = shown / TAGS + 1;
    button.addEventListener('click', () => {
      button.disabled = true;
      fetch('/api/tags?' + new URLSearchParams({ repository: name, page: String(next), per_page: String(TAGS) }).toString(), { credentials: 'same-origin', headers: { accept: 'application/json' } })
        .then((res) => (res.ok ? res.json() : Promise.reject(new Error('the registry answered ' + res.status))))
        .then((answer) => {
          const tags = list(answer && answer.tags);
          button.before(...tags.map(tagBlock));
          shown += tags.length;
          next += 1;
          if (tags.length === 0 || shown >= count(answer.total)) button.remove();
          else {
            button.textContent = 'more tags (' + (count(answer.total) - shown) + ')';
            button.disabled = false;
          }
        })
        .catch((error) => button.replaceWith(el('p', { class: 'error' }, 'cannot load more tags: ' + (error && typeof error.message === 'string' ? error.message : 'network error'))));
    });
    return button;
  };
  const render = (answer) => {
    const repos = answer !== null && typeof answer === 'object' ? answer.repositories : undefined;
    if (!Array.isArray(repos)) return fail('cannot load the repositories: unexpected answer from /api/repositories');
    root.className = '';
    const total = count(answer.total);
    const perPage = count(answer.perPage) || 1;
    const pages = Math.max(1, Math.ceil(total / perPage));
    const pager = document.getElementById('pager');
    pager.replaceChildren(...(pageNumber > 1 ? [pageLink(pageNumber - 1, '← previous')] : []), 'page ' + pageNumber + ' of ' + pages + ' · ' + total + ' repositories', ...(pageNumber < pages ? [' ', pageLink(pageNumber + 1, 'next →')] : []));
    if (repos.length === 0) return root.replaceChildren(el('p', { class: 'muted' }, search ? 'No repository matches.' : 'No repositories yet. Push with polyarch, skopeo or docker.'));
    const nodes = [];
    for (const repo of list(repos)) {
      const name = text(repo.name, '');
      const tags = list(repo.tags);
      nodes.push(el('h2', { 'data-repo': name }, name), ...tags.map(tagBlock));
      if (count(repo.tagCount) > tags.length && tags.length === TAGS) nodes.push(moreButton(name, tags.length, count(repo.tagCount)));
    }
    root.replaceChildren(...nodes);
  };
  fetch('/api/repositories?' + new URLSearchParams({ q: search, page: String(pageNumber), tags: String(TAGS) }).toString(), { credentials: 'same-origin', headers: { accept: 'application/json' } })
    .then(async (res) => {
      if (!res.ok) {
        const hint = res.status === 401 ? ': sign in (this registry needs a user name and password), then reload' : res.status === 403 ? ': access denied' : '';
        return fail('cannot load the repositories: the registry answered ' + res.status + ' ' + res.statusText + hint);
      }
      let answer;
      try {
        answer = await res.json();
      } catch {
        return fail('cannot load the repositories: the answer is not JSON');
      }
      render(answer);
    })
    .catch((error) => fail('cannot load the repositories: ' + (error && typeof error.message === 'string' ? error.message : 'network error')));
})();
`;

export function renderPage(): string {
  return PAGE;
}

/** The page's same-origin files (the CSP allows no other script or style). */
export function pageAsset(path: string): { readonly contentType: string; readonly body: string } | undefined {
  if (path === '/ui/app.js') return { contentType: 'text/javascript; charset=utf-8', body: SCRIPT };
  if (path === '/ui/app.css') return { contentType: 'text/css; charset=utf-8', body: STYLE };
  return undefined;
}

/** Sent with every response. Anything but the page is data: if a browser ever renders one as a
 * document (a manifest GET answers with the media type it was stored with), it runs sandboxed,
 * with no script and nothing loaded. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/** The page's policy: its own script, style and API only; no inline script, no plugins, no framing. */
export const PAGE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
