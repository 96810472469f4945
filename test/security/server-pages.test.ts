// Attacks on the registry's server-rendered pages: values pushed in configs, index entries and
// tags that hold markup, quotes, bidirectional controls and a megabyte of text; configs that are
// huge or not JSON; an index of hundreds of entries; and repository names in the URL that try to
// climb out of the store. Checked in a real browser (Debian's chromium via playwright-core) with a
// global trap every injected script would set.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { makeLayer } from '../helpers/images.js';
import { OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, pushBlob, pushManifest, type Desc } from '../helpers/registry-push.js';
import { tempDir } from '../helpers/temp-dir.js';

const CHROMIUM = '/usr/bin/chromium';
const trap = (n: number): string => `window.__pwned=(window.__pwned||[]).concat(${n})`;
const BIDI = 'invoice\u202Egnp.exe';
const MEGABYTE = 'A'.repeat(1_000_000);

let browser: Browser;
let dir: { path: string; remove: () => Promise<void> };
let server: EmbeddedHandle;
let hostileImage: Desc;

async function imageWithConfig(repo: string, config: string | Buffer, tag?: string): Promise<Desc> {
  const layer = await makeLayer(`hostile-${repo}`, 128);
  await pushBlob(server.url, repo, layer.bytes);
  const configDesc = await pushBlob(server.url, repo, config, OCI_CONFIG);
  return pushManifest(server.url, repo, tag, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDesc, layers: [layer.descriptor] });
}

/** Opens a page with a trap for injected script and counts of what it rendered. */
async function visit(page: Page, path: string): Promise<{ status: number; pwned: unknown; dialogs: string[]; injected: number; violations: string[]; text: string; html: string }> {
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.addInitScript({
    content: "window.__violations = []; document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective));",
  });
  const res = await page.goto(`${server.url}${path}`);
  await page.waitForTimeout(300); // an onerror/onload payload fires right after insertion
  const state = (await page.evaluate(`({
    pwned: window.__pwned,
    violations: window.__violations,
    injected: document.querySelectorAll('main img, main svg, main script, main iframe, main object, main b').length,
    text: document.querySelector('main').textContent,
  })`)) as { pwned: unknown; injected: number; violations: string[]; text: string };
  return { status: res?.status() ?? 0, dialogs, html: await page.content(), ...state };
}

/** A GET with the path sent byte for byte (fetch and URL would resolve `..` first). */
function rawGet(path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET', agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install the Debian package chromium`);
  dir = await tempDir();
  server = await startEmbedded({ root: join(dir.path, 'root') });
  const config = {
    os: 'linux',
    architecture: 'amd64',
    created: `<img src=x onerror="${trap(1)}">`,
    config: {
      Entrypoint: [`"><script>${trap(2)}</script>`],
      Cmd: [`'><img src=x onerror='${trap(3)}'>`, 7],
      Env: [`EVIL="><svg onload="${trap(4)}">`, `NAME=${BIDI}`],
      User: '<b>root</b>',
      ExposedPorts: { [`<img src=x onerror=${trap(5)}>/tcp`]: {} },
      Labels: { 'evil.script': `<script>${trap(6)}</script>`, 'evil.quotes': `" onmouseover="${trap(7)}" x='`, 'evil.bidi': BIDI, 'huge.label': MEGABYTE },
    },
    history: [{ created_by: `/bin/sh -c #(nop) <script>${trap(8)}</script>` }, { created_by: `RUN echo ${BIDI}`, empty_layer: true }],
  };
  hostileImage = await imageWithConfig('hostile/app', JSON.stringify(config), 'evil');
  // an index whose entries' platform strings hold markup
  await pushManifest(server.url, 'hostile/app', 'evil-index', {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{ mediaType: OCI_MANIFEST, digest: hostileImage.digest, size: hostileImage.size, platform: { os: `linux"><img src=x onerror="${trap(9)}">`, architecture: `<script>${trap(10)}</script>` } }],
  });
  // configs that are huge (2 MB), not JSON, or JSON but not an object
  await imageWithConfig('hostile/app', JSON.stringify({ os: 'linux', architecture: 'amd64', pad: 'x'.repeat(2_000_000) }), 'huge-config');
  await imageWithConfig('hostile/app', 'this is <not> json', 'text-config');
  await imageWithConfig('hostile/app', '[1,2,3]', 'array-config');
  // an index of 300 entries: the page describes a bounded number of them
  const entry = { mediaType: OCI_MANIFEST, digest: hostileImage.digest, size: hostileImage.size, platform: { os: 'linux', architecture: 'amd64' } };
  await pushManifest(server.url, 'hostile/app', 'wide-index', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: Array.from({ length: 300 }, () => entry) });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await dir?.remove();
});

describe('hostile values on the pages', () => {
  test('markup, quotes and handlers in a config and an index are shown as text; no script runs', async () => {
    for (const path of ['/', '/r/hostile/app', '/r/hostile/app/-/evil', '/r/hostile/app/-/evil-index']) {
      const page = await browser.newPage();
      try {
        const seen = await visit(page, path);
        assert.equal(seen.status, 200, path);
        assert.equal(seen.pwned, undefined, `${path}: injected script ran`);
        assert.deepEqual(seen.dialogs, [], path);
        assert.equal(seen.injected, 0, `${path}: a stored value became an element`);
        assert.deepEqual(seen.violations, [], `${path}: the page tried to run inline script`);
      } finally {
        await page.close();
      }
    }
    const page = await browser.newPage();
    try {
      const seen = await visit(page, '/r/hostile/app/-/evil');
      assert.ok(seen.text.includes(`<script>${trap(6)}</script>`), 'a label is shown as written');
      assert.ok(seen.text.includes(`"><script>${trap(2)}</script>`), 'the entrypoint is shown as written');
      assert.ok(seen.text.includes('<b>root</b>'), 'the user is shown as written');
      assert.ok(seen.text.includes(`/bin/sh -c #(nop) <script>${trap(8)}</script>`), 'history is shown as written');
      assert.equal(await page.locator('dd[data-field="cmd"] li').nth(1).innerText(), '(not a string)');
      const index = await browser.newPage();
      const indexSeen = await visit(index, '/r/hostile/app/-/evil-index');
      assert.ok(indexSeen.text.includes(`linux"><img src=x onerror="${trap(9)}">/<script>${trap(10)}</script>`), 'the platform is shown as written');
      await index.close();
    } finally {
      await page.close();
    }
  });

  test('bidirectional controls are spelled out, and a 1 MB label is cut with a visible note', async () => {
    const page = await browser.newPage();
    try {
      const seen = await visit(page, '/r/hostile/app/-/evil');
      assert.ok(!seen.text.includes('\u202E'), 'no bidi control reaches the page');
      assert.ok(seen.text.includes('invoice⟨U+202E⟩gnp.exe'));
      const huge = (await page.locator('dd[data-field="labels"] li').allInnerTexts()).find((t) => t.startsWith('huge.label'));
      assert.ok(huge !== undefined);
      assert.match(huge, /… \(999000 more characters not shown\)$/);
      assert.ok(seen.html.length < 100_000, `the page is ${seen.html.length} characters`);
    } finally {
      await page.close();
    }
  });

  test('a huge config, a config that is not JSON and an index of 300 entries give pages with a clear message', async () => {
    const page = await browser.newPage();
    try {
      const cases: [string, RegExp][] = [
        ['huge-config', /the config is 1\.9 MiB, more than the 1\.0 MiB this page reads/],
        ['text-config', /the config is not a JSON object/],
        ['array-config', /the config is not a JSON object/],
      ];
      for (const [tag, message] of cases) {
        const seen = await visit(page, `/r/hostile/app/-/${tag}`);
        assert.equal(seen.status, 200, tag);
        assert.match(await page.locator('.problem').first().innerText(), message, tag);
        assert.equal(await page.locator('tr.layer').count(), 1, `${tag}: the layers are still listed`);
      }
      const wide = await visit(page, '/r/hostile/app/-/wide-index');
      assert.equal(await page.locator('tr.platform').count(), 64);
      assert.match(wide.text, /236 more index entries not shown/);
      assert.equal((await fetch(`${server.url}/v2/`)).status, 200, 'the server still answers');
    } finally {
      await page.close();
    }
  });
});

describe('repository and tag names in the URL', () => {
  test('path traversal, encoded slashes and names outside the grammar are a 404', async () => {
    const paths = [
      '/r/../../../../etc/passwd',
      '/r/..%2f..%2f..%2fetc%2fpasswd',
      '/r/%2e%2e/%2e%2e/etc/passwd',
      '/r/hostile/../../../etc',
      '/r/hostile/app/-/../../../../../etc/passwd',
      '/r/hostile/app/-/..%2f..%2f_tags%2fevil',
      '/r/hostile/app/_manifests',
      '/r/hostile/app/-/evil%00',
      '/r/hostile/app/-/',
      '/r/HOSTILE/app',
      '/r//etc',
      '/r/hostile%2fapp',
      '/r/hostile/app/-/nope',
      '/r/nope/none',
    ];
    for (const path of paths) {
      const res = await rawGet(path);
      assert.equal(res.status, 404, `${path}: ${res.body.slice(0, 200)}`);
      assert.doesNotMatch(res.body, /root:|sha256:[a-f0-9]{64}/, path);
    }
    assert.equal((await rawGet('/r/hostile/app/-/evil')).status, 200, 'the real tag answers');
    for (const bad of ['/?page=0', '/?page=x', '/r/hostile/app?page=-1', `/?q=${'a'.repeat(300)}`]) assert.equal((await rawGet(bad)).status, 400, bad);
  });
});
