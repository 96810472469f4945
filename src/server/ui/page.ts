// The registry's web page: a small static page that renders /api/repositories, like Docker
// Hub's tag page (platform matrix per tag). No build step, no framework.
// Everything it shows comes from manifests anyone with push rights stored, so the script
// builds the DOM with textContent only (never HTML strings), and the page carries no inline
// script or style: the server's Content-Security-Policy allows only same-origin files.
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>polyarch registry</title>
<link rel="stylesheet" href="/ui/app.css">
<script src="/ui/app.js" defer></script>
</head>
<body><h1>polyarch registry</h1><div id="repos" class="muted">loading…</div></body></html>`;

const STYLE = `body{font:14px system-ui,sans-serif;margin:2rem;color:#1d2330;background:#f6f7f9}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
.tag{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.8rem 1rem;margin:.8rem 0}
.kind{font-size:.75rem;padding:.1rem .4rem;border-radius:4px;background:#e6efff;color:#1d4ed8;margin-left:.5rem}
table{border-collapse:collapse;margin-top:.5rem;width:100%}th,td{text-align:left;padding:.25rem .6rem;border-bottom:1px solid #eef0f3}
td.digest{font-family:ui-monospace,monospace;font-size:.8rem}.muted{color:#6b7280}.error{color:#b91c1c}
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
  const render = (repos) => {
    if (!Array.isArray(repos)) return fail('cannot load the repositories: unexpected answer from /api/repositories');
    root.className = '';
    if (repos.length === 0) return root.replaceChildren(el('p', { class: 'muted' }, 'No repositories yet. Push with polyarch, skopeo or docker.'));
    const nodes = [];
    for (const repo of list(repos)) {
      const name = text(repo.name, '');
      nodes.push(el('h2', { 'data-repo': name }, name), ...list(repo.tags).map(tagBlock));
    }
    root.replaceChildren(...nodes);
  };
  fetch('/api/repositories', { credentials: 'same-origin', headers: { accept: 'application/json' } })
    .then(async (res) => {
      if (!res.ok) {
        const hint = res.status === 401 ? ': sign in (this registry needs a user name and password), then reload' : res.status === 403 ? ': access denied' : '';
        return fail('cannot load the repositories: the registry answered ' + res.status + ' ' + res.statusText + hint);
      }
      let repos;
      try {
        repos = await res.json();
      } catch {
        return fail('cannot load the repositories: the answer is not JSON');
      }
      render(repos);
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
