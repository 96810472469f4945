// The registry's web pages, rendered on the server so that they work with JavaScript off: the
// repository list (search and pages), a repository's tags (newest first, paged) and a tag's page
// (platform matrix, each image's config, layers, history and referrers, pull commands).
// Every value shown comes from what someone pushed: it reaches the markup only through `html`,
// which escapes it; links are built only from names that pass the reference grammar.
import type { ReferrerRow, RepositoryPage, TagPage, TagSummary } from './api.js';
import { html, raw, type Html, type HtmlValue } from './html.js';
import type { ConfigDetail, ImageDetail, Listed, TagDetail } from './tag-detail.js';

const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/** Whether `name` is a repository name of the reference grammar (so it is safe in a URL path as is). */
export function isRepositoryName(name: string): boolean {
  return name.length <= 255 && NAME.test(name);
}

export function isTagName(tag: string): boolean {
  return TAG.test(tag);
}

export const repositoryPath = (name: string): string => `/r/${name}`;
/** `/-/` cannot be part of a repository name (a path component starts with a letter or digit). */
export const tagPath = (name: string, tag: string): string => `/r/${name}/-/${tag}`;

function layout(title: string, body: Html, search = ''): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><link rel="stylesheet" href="/ui/app.css"><script src="/ui/app.js" defer></script></head>
<body><header class="top"><a class="home" href="/">polyarch registry</a>
<form class="search" method="get" action="/" role="search"><label for="q" class="visually-hidden">Search repositories</label><input id="q" type="search" name="q" value="${search}" placeholder="search repositories"> <button type="submit">Search</button></form></header>
<main>${body}</main></body></html>`.text;
}

function sizeText(n: number | undefined): string {
  if (n === undefined) return 'unknown';
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}

function timeText(ms: number): string {
  return Number.isFinite(ms) && ms > 0 ? `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'unknown';
}

/** An RFC 3339 time as `YYYY-MM-DD HH:MM UTC`; anything else as given. */
function createdText(value: string | undefined): string {
  if (value === undefined || value === '') return '';
  const ms = /^\d{4}-\d\d-\d\dT/.test(value) ? Date.parse(value) : Number.NaN;
  return Number.isFinite(ms) ? timeText(ms) : value;
}

const short = (digest: string): string => (digest.length > 19 ? `${digest.slice(0, 19)}…` : digest);

function pager(base: string, page: number, pages: number, extra: Record<string, string>, what: string): Html {
  const link = (n: number, label: string, rel: string): Html => html`<a href="${`${base}?${new URLSearchParams({ ...extra, page: String(n) }).toString()}`}" rel="${rel}">${label}</a>`;
  return html`<nav class="pager" aria-label="${what} pages">${page > 1 ? link(page - 1, '← previous', 'prev') : ''}<span>page ${page} of ${pages}</span>${page < pages ? link(page + 1, 'next →', 'next') : ''}</nav>`;
}

/** A command to copy: selectable text without JavaScript; the script adds a copy button. */
function command(text: string): Html {
  return html`<div class="cmd"><code>${text}</code></div>`;
}

function more(omitted: number, what: string): Html | '' {
  return omitted > 0 ? html`<p class="note">${omitted} more ${what} not shown.</p>` : '';
}

/** A table in a region that scrolls sideways when it is wider than the screen; `kind` is its CSS class. */
function table(kind: string, head: readonly string[], rows: readonly Html[], label: string): Html {
  return html`<div class="scroll" role="region" aria-label="${label}" tabindex="0"><table class="${kind}"><thead><tr>${head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div>`;
}

// ---- the repository list ----

function kindText(t: TagSummary): string {
  if (t.kind !== 'index') return t.kind;
  const n = t.platforms.filter((p) => p.attestation !== true).length;
  return `index · ${n} platform${n === 1 ? '' : 's'}`;
}

function platformChips(t: TagSummary): Html {
  const shown = t.platforms.filter((p) => p.attestation !== true);
  return html`<ul class="chips" aria-label="platforms">${shown.slice(0, 12).map((p) => html`<li>${p.platform}</li>`)}${shown.length > 12 ? html`<li>+${shown.length - 12} more</li>` : ''}</ul>`;
}

function tagLink(name: string, tag: string): Html {
  return isRepositoryName(name) && isTagName(tag) ? html`<a href="${tagPath(name, tag)}">${tag}</a>` : html`<span>${tag}</span>`;
}

export function renderRepositoryList(answer: RepositoryPage, search: string): string {
  const pages = Math.max(1, Math.ceil(answer.total / answer.perPage));
  const items = answer.repositories.map((repo) => {
    const newest = repo.tags[0];
    const title = isRepositoryName(repo.name) ? html`<a href="${repositoryPath(repo.name)}">${repo.name}</a>` : html`${repo.name}`;
    return html`<li class="repo" data-repo="${repo.name}"><h2>${title}</h2>
<p class="meta">${repo.tagCount} tag${repo.tagCount === 1 ? '' : 's'}${newest ? html` · newest ${tagLink(repo.name, newest.tag)} · ${kindText(newest)} · updated ${timeText(newest.updated)}` : ''}</p>
${newest ? platformChips(newest) : ''}</li>`;
  });
  const heading = search ? html`Repositories matching “${search}”` : html`Repositories`;
  const empty = search ? 'No repository matches.' : 'No repositories yet. Push with polyarch, skopeo or docker.';
  return layout(
    'polyarch registry',
    html`<h1>${heading}</h1><p class="meta" id="count">${answer.total} repositor${answer.total === 1 ? 'y' : 'ies'}</p>
${items.length > 0 ? html`<ul class="repos">${items}</ul>` : html`<p class="note">${empty}</p>`}
${pager('/', answer.page, pages, search ? { q: search } : {}, 'repository list')}`,
    search,
  );
}

// ---- a repository's tags ----

/** Platform rows a tag's card shows (its page shows up to MAX_IMAGES). */
const CARD_ROWS = 24;

function tagCard(name: string, t: TagSummary): Html {
  const rows = t.platforms.slice(0, CARD_ROWS).map(
    (p) => html`<tr class="platform"><td>${p.attestation === true ? 'attestation' : p.platform}</td><td class="digest"><code>${short(p.digest)}</code></td><td>${sizeText(p.size)}</td><td>${createdText(p.created)}</td></tr>`,
  );
  return html`<li class="tag" data-tag="${t.tag}"><h2>${tagLink(name, t.tag)} <span class="kind">${kindText(t)}</span></h2>
<p class="meta"><code class="digest">${t.digest}</code> · updated ${timeText(t.updated)}${t.referrers > 0 ? ` · ${t.referrers} referrer${t.referrers === 1 ? '' : 's'}` : ''}</p>
${rows.length > 0 ? table('platforms', ['OS/ARCH', 'DIGEST', 'SIZE', 'CREATED'], rows, `platforms of ${t.tag}`) : ''}${more(t.platforms.length - rows.length, 'entries (see the tag page)')}</li>`;
}

export function renderRepository(answer: TagPage, host: string): string {
  const pages = Math.max(1, Math.ceil(answer.total / answer.perPage));
  const newest = answer.tags[0];
  return layout(
    `${answer.name} · polyarch registry`,
    html`<nav class="crumbs" aria-label="breadcrumb"><a href="/">Repositories</a> / <span>${answer.name}</span></nav>
<h1 data-repo="${answer.name}">${answer.name}</h1><p class="meta">${answer.total} tag${answer.total === 1 ? '' : 's'}, newest first</p>
${newest && answer.page === 1 ? html`<section aria-labelledby="pull"><h2 id="pull">Pull the newest tag</h2>${command(`docker pull ${host}/${answer.name}@${newest.digest}`)}</section>` : ''}
${answer.tags.length > 0 ? html`<ul class="tags">${answer.tags.map((t) => tagCard(answer.name, t))}</ul>` : html`<p class="note">No tags on this page.</p>`}
${pager(repositoryPath(answer.name), answer.page, pages, {}, 'tag list')}`,
  );
}

// ---- a tag ----

function referrerTable(list: Listed<ReferrerRow>, label: string): Html {
  if (list.items.length === 0) return html`<p class="note">No referrers.</p>`;
  const rows = list.items.map((r) => html`<tr class="referrer"><td>${r.artifactType ?? '(none)'}</td><td class="digest wrap"><code class="digest">${r.digest}</code></td><td>${sizeText(r.size)}</td><td>${r.mediaType}</td></tr>`);
  return html`${table('referrers', ['ARTIFACT TYPE', 'DIGEST', 'SIZE', 'MEDIA TYPE'], rows, label)}${more(list.omitted, 'referrers')}`;
}

function values(list: Listed<string> | undefined): HtmlValue {
  if (!list) return html`<span class="note">not set</span>`;
  if (list.items.length === 0) return html`<span class="note">empty</span>`;
  return html`<ol class="argv">${list.items.map((v) => html`<li><code>${v}</code></li>`)}</ol>${more(list.omitted, 'items')}`;
}

function configSection(config: ConfigDetail, label: string): Html {
  const env = config.env.items.length > 0 ? html`<ul class="plain">${config.env.items.map((e) => html`<li><code>${e}</code></li>`)}</ul>${more(config.env.omitted, 'variables')}` : html`<span class="note">none</span>`;
  const ports = config.exposedPorts.items.length > 0 ? html`${config.exposedPorts.items.map((p) => html`<code class="port">${p}</code> `)}${more(config.exposedPorts.omitted, 'ports')}` : html`<span class="note">none</span>`;
  const labels =
    config.labels.items.length > 0
      ? html`<ul class="plain labels">${config.labels.items.map(([k, v]) => html`<li><code>${k}</code> = <code>${v}</code></li>`)}</ul>${more(config.labels.omitted, 'labels')}`
      : html`<span class="note">none</span>`;
  return html`<dl class="config" aria-label="${label}">
<dt>Entrypoint</dt><dd data-field="entrypoint">${values(config.entrypoint)}</dd>
<dt>Cmd</dt><dd data-field="cmd">${values(config.cmd)}</dd>
<dt>User</dt><dd data-field="user">${config.user ? html`<code>${config.user}</code>` : html`<span class="note">root (not set)</span>`}</dd>
<dt>Working directory</dt><dd data-field="workdir">${config.workingDir ? html`<code>${config.workingDir}</code>` : html`<span class="note">/ (not set)</span>`}</dd>
<dt>Exposed ports</dt><dd data-field="ports">${ports}</dd>
<dt>Environment</dt><dd data-field="env">${env}</dd>
<dt>Labels</dt><dd data-field="labels">${labels}</dd>
<dt>Created</dt><dd data-field="created">${createdText(config.created) || html`<span class="note">not set</span>`}</dd>
</dl>`;
}

function imageSection(detail: TagDetail, image: ImageDetail, n: number, host: string): Html {
  const id = `image-${n}`;
  const title = image.attestationFor ? `attestation for ${short(image.attestationFor)}` : image.platform;
  const layers = image.layers.items.map((l, i) => html`<tr class="layer"><td>${i + 1}</td><td class="digest"><code>${short(l.digest)}</code></td><td>${sizeText(l.size)}</td><td>${l.mediaType}</td></tr>`);
  const history = image.config?.history;
  return html`<section class="image" id="${id}" data-platform="${image.platform}" aria-labelledby="${id}-title">
<h2 id="${id}-title">${title}</h2>
<p class="meta"><code class="digest">${image.digest}</code>${image.size !== undefined ? ` · ${sizeText(image.size)} compressed` : ''}</p>
${image.problem ? html`<p class="problem" role="status">${image.problem}.</p>` : ''}
${!image.attestationFor && /^sha256:[a-f0-9]{64}$/.test(image.digest) && detail.kind === 'index' ? command(`docker pull --platform ${image.platform} ${host}/${detail.repository}@${image.digest}`) : ''}
${image.config ? html`<h3>Config</h3>${configSection(image.config, `config of ${title}`)}` : ''}
<h3>Layers</h3>${layers.length > 0 ? table('layers', ['#', 'DIGEST', 'SIZE', 'MEDIA TYPE'], layers, `layers of ${title}`) : html`<p class="note">No layers.</p>`}${more(image.layers.omitted, 'layers')}
${history ? html`<h3>History</h3>${history.items.length > 0 ? html`<ol class="history">${history.items.map((h) => html`<li${h.emptyLayer ? raw(' class="empty"') : ''}><code>${h.createdBy || '(no command)'}</code>${h.emptyLayer ? html` <span class="note">(no layer)</span>` : ''}</li>`)}</ol>` : html`<p class="note">No history.</p>`}${more(history.omitted, 'history lines')}` : ''}
<h3>Referrers</h3>${referrerTable(image.referrers, `referrers of ${title}`)}
</section>`;
}

export function renderTag(detail: TagDetail, host: string): string {
  const ref = `${host}/${detail.repository}`;
  const matrix = detail.images.items.map(
    (image, n) =>
      html`<tr class="platform"><td><a href="#image-${n}">${image.attestationFor ? 'attestation' : image.platform}</a></td><td class="digest"><code>${short(image.digest)}</code></td><td>${sizeText(image.size)}</td><td>${createdText(image.config?.created)}</td></tr>`,
  );
  return layout(
    `${detail.repository}:${detail.tag} · polyarch registry`,
    html`<nav class="crumbs" aria-label="breadcrumb"><a href="/">Repositories</a> / <a href="${repositoryPath(detail.repository)}">${detail.repository}</a> / <span>${detail.tag}</span></nav>
<h1>${detail.repository}:${detail.tag}</h1>
<p class="meta"><span class="kind">${detail.kind}</span> <code class="digest">${detail.digest}</code></p>
<p class="meta">${detail.mediaType}</p>
${detail.problem ? html`<p class="problem" role="status">${detail.problem}.</p>` : ''}
<section aria-labelledby="pull"><h2 id="pull">Pull, pinned by digest</h2>
${command(`docker pull ${ref}@${detail.digest}`)}
${command(`polyarch copy ${ref}@${detail.digest} oci:./${detail.repository.split('/').pop() ?? 'image'}:${detail.tag}`)}</section>
${detail.images.items.length > 0 ? html`<section aria-labelledby="platforms"><h2 id="platforms">Platforms</h2>${table('platforms', ['OS/ARCH', 'DIGEST', 'SIZE', 'CREATED'], matrix, 'platform matrix')}${more(detail.images.omitted, 'index entries')}</section>` : ''}
<section aria-labelledby="referrers"><h2 id="referrers">Referrers of ${detail.kind === 'index' ? 'the index' : 'the image'}</h2>${referrerTable(detail.referrers, 'referrers')}</section>
${detail.images.items.map((image, n) => imageSection(detail, image, n, host))}`,
  );
}

export function renderMessage(title: string, message: string): string {
  return layout(`${title} · polyarch registry`, html`<nav class="crumbs" aria-label="breadcrumb"><a href="/">Repositories</a></nav><h1>${title}</h1><p class="problem">${message}</p>`);
}
