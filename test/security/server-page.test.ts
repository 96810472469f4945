// Attacks on the embedded registry's web page: hostile manifests stored before validation
// existed (written straight through the storage layer), broken configs, and the page behind
// --htpasswd. Everything is checked in a real browser (Debian's chromium via playwright-core).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { digestOfBytes, type Digest } from '../../src/digest/digest.js';
import { RegistryStorage } from '../../src/server/storage.js';
import { copy } from '../../src/ops/copy.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { randomImage } from '../helpers/images.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { tempDir } from '../helpers/temp-dir.js';

const CHROMIUM = '/usr/bin/chromium';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const CONFIG = 'application/vnd.oci.image.config.v1+json';

let browser: Browser;
let dir: { path: string; remove: () => Promise<void> };

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install the Debian package chromium`);
  dir = await tempDir();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  await dir?.remove();
});

/** Writes content straight into a registry root, as an older version could have stored it. */
class Planter {
  readonly storage: RegistryStorage;
  constructor(root: string) {
    this.storage = new RegistryStorage(root);
  }
  async blob(repo: string, bytes: Buffer | string): Promise<Digest> {
    const data = Buffer.from(bytes);
    const digest = digestOfBytes(data);
    await this.storage.blobs.putBytes(digest, data);
    await this.storage.linkBlob(repo, digest);
    return digest;
  }
  async manifest(repo: string, body: unknown, mediaType: string, tag?: string): Promise<Digest> {
    const bytes = Buffer.from(JSON.stringify(body));
    const digest = digestOfBytes(bytes);
    await this.storage.putManifest(repo, digest, bytes, mediaType, tag);
    return digest;
  }
}

/** Opens a page (rendered on the server) and records every sign of injected script. */
async function openPage(page: Page, url: string): Promise<{ dialogs: string[]; errors: string[] }> {
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('pageerror', (e) => errors.push(e.message));
  // Runs outside the page's CSP: counts policy violations, i.e. injected inline script that was blocked.
  await page.addInitScript({
    content: "window.__violations = []; document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.sample));",
  });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForTimeout(300); // an onerror/onload payload fires right after insertion
  return { dialogs, errors };
}

describe('4. stored manifests are hostile data on the page', () => {
  let server: EmbeddedHandle;
  const marker = (n: number): string => `window.__xss=(window.__xss||[]).concat(${n});alert(${n})`;
  const IMG = (n: number): string => `<img src=x onerror="${marker(n)}">`;

  before(async () => {
    server = await startEmbedded({ root: join(dir.path, 'xss') });
    const plant = new Planter(server.root);
    const repo = 'xss/app';
    const layer = await plant.blob(repo, 'layer bytes');
    const config = await plant.blob(repo, JSON.stringify({ os: `<svg onload="${marker(1)}">`, architecture: IMG(2), variant: IMG(3), created: IMG(4) }));
    const plainConfig = await plant.blob(repo, JSON.stringify({ os: 'linux', architecture: 'amd64' }));
    // The tag the payload of the issue deleted.
    await plant.manifest(repo, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: CONFIG, digest: plainConfig, size: 2 }, layers: [] }, OCI_MANIFEST, 'keep');
    const deleteKeep = `fetch('/v2/xss/app/manifests/keep',{method:'DELETE'})`;
    const cases: { tag: string; body: unknown; mediaType?: string }[] = [
      // size: a string holding HTML (the payload), in the config and in a layer
      { tag: 'size-string', body: { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: CONFIG, digest: plainConfig, size: `<img src=x onerror="${marker(5)};${deleteKeep}">` }, layers: [{ mediaType: LAYER, digest: layer, size: IMG(6) }] } },
      // size: an object, an array, a negative and a huge number
      { tag: 'size-object', body: { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: CONFIG, digest: plainConfig, size: { toString: IMG(7) } }, layers: [{ mediaType: LAYER, digest: layer, size: [IMG(8)] }] } },
      { tag: 'size-negative', body: { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: CONFIG, digest: plainConfig, size: -5 }, layers: [{ mediaType: LAYER, digest: layer, size: 1e300 }] } },
      // every string of the config is HTML
      { tag: 'config-html', body: { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: CONFIG, digest: config, size: 10 }, layers: [{ mediaType: LAYER, digest: layer, size: 11 }] } },
      // an index whose entries carry HTML in platform fields, annotations and the digest itself
      {
        tag: 'index-html',
        mediaType: OCI_INDEX,
        body: {
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: [
            { mediaType: OCI_MANIFEST, digest: IMG(9), size: IMG(10), platform: { os: IMG(11), architecture: `"><script>${marker(12)}</script>`, variant: IMG(13) } },
            { mediaType: OCI_MANIFEST, digest: digestOfBytes(Buffer.from('absent')), size: 1, platform: { os: 'linux', architecture: { a: IMG(14) } }, annotations: { 'vnd.docker.reference.type': IMG(15) } },
            null,
            IMG(16),
          ],
        },
      },
      // a tag name and a stored media type holding HTML (file names may hold anything but "/")
      { tag: `<img src=x onerror=${marker(17).replace(/[/]/g, '')}>`, body: { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: CONFIG, digest: plainConfig, size: 2 }, layers: [] } },
      { tag: 'media-type-html', mediaType: `<img src=x onerror="${marker(18)}">`, body: { schemaVersion: 2, config: { digest: plainConfig, size: 2 }, layers: [] } },
    ];
    for (const c of cases) await plant.manifest(repo, c.body, c.mediaType ?? OCI_MANIFEST, c.tag);
    // a repository name holding HTML
    const evilRepo = `xss/<img src=x onerror=${marker(19).replace(/[/]/g, '')}>`;
    await plant.manifest(evilRepo, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: CONFIG, digest: await plant.blob(evilRepo, '{}'), size: 2 }, layers: [] }, OCI_MANIFEST, 'latest');
  });
  after(() => server?.stop());

  test('4.1 no value from a stored manifest runs as script; sizes that are not integers show as unknown', async () => {
    for (const path of ['/', '/r/xss/app']) {
      const page = await browser.newPage();
      try {
        const { dialogs } = await openPage(page, `${server.url}${path}`);
        const state = (await page.evaluate(`({
          xss: window.__xss ?? [],
          violations: window.__violations,
          injected: document.querySelectorAll('main img, main svg, main script, main iframe, main object').length,
          text: document.querySelector('main')?.textContent ?? '',
        })`)) as { xss: number[]; violations: string[]; injected: number; text: string };
        assert.deepEqual(state.xss, [], `${path}: an injected handler ran`);
        assert.deepEqual(dialogs, [], path);
        assert.equal(state.injected, 0, `${path}: a stored value became an element`);
        assert.deepEqual(state.violations, [], `${path}: the page tried to run injected inline script`);
        // The values are shown, as text.
        assert.ok(state.text.includes('<img src=x onerror='), `${path}: hostile names are shown as text`);
        if (path === '/r/xss/app') {
          assert.ok(state.text.includes('size-string'));
          const sizes = await page.locator('.tag[data-tag="size-string"] tr.platform td:nth-child(3), .tag[data-tag="size-object"] tr.platform td:nth-child(3), .tag[data-tag="size-negative"] tr.platform td:nth-child(3)').allInnerTexts();
          assert.deepEqual(sizes, ['unknown', 'unknown', 'unknown']);
        }
      } finally {
        await page.close();
      }
    }
    // The tag the payload targets is still there.
    const keep = await fetch(`${server.url}/v2/xss/app/manifests/keep`, { headers: { accept: OCI_MANIFEST } });
    assert.equal(keep.status, 200);
  });

  test('4.2 every response carries a CSP that forbids inline script, and nosniff', async () => {
    const page = await fetch(`${server.url}/`);
    const csp = page.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"]) {
      assert.ok(csp.includes(directive), `CSP ${JSON.stringify(csp)} lacks ${directive}`);
    }
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    const html = await page.text();
    assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/i, 'the page holds inline script');
    // Stored values appear escaped in text and in quoted attribute values; no tag may carry a handler.
    assert.doesNotMatch(html.replace(/"[^"]*"/g, '""'), /<[^>]*\son\w+\s*=/i, 'the page holds an inline handler');
    for (const path of ['/', '/api/repositories', '/v2/', '/v2/xss/app/manifests/nope', '/nope', '/ui/app.js']) {
      const res = await fetch(`${server.url}${path}`);
      await res.arrayBuffer();
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      assert.ok(res.headers.get('content-security-policy'), path);
    }
  });
});

describe('6. a broken image does not take the page down', () => {
  let server: EmbeddedHandle;
  const SUBJECT = digestOfBytes(Buffer.from('some subject'));
  const brokenTags = ['null-config', 'text-config', 'array-config', 'string-config', 'missing-config', 'bad-shape', 'index-bad', 'index-null-entries', 'missing-manifest-blob', 'truncated-config'];

  before(async () => {
    server = await startEmbedded({ root: join(dir.path, 'broken') });
    const layout = await openLayout(join(dir.path, 'good-src'), { create: true });
    await randomImage(layout, { platform: { os: 'linux', architecture: 'arm64' }, tag: '1', bytes: 64, seed: 'good' });
    await copy({ source: `oci:${join(dir.path, 'good-src')}:1`, destination: `${server.host}/good/app:1` });
    const plant = new Planter(server.root);
    const repo = 'broken/app';
    const image = (config: Digest, size = 4): unknown => ({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: CONFIG, digest: config, size }, layers: [] });
    await plant.manifest(repo, image(await plant.blob(repo, 'null')), OCI_MANIFEST, 'null-config');
    await plant.manifest(repo, image(await plant.blob(repo, 'not json <at all>')), OCI_MANIFEST, 'text-config');
    await plant.manifest(repo, image(await plant.blob(repo, '[1,2]')), OCI_MANIFEST, 'array-config');
    await plant.manifest(repo, image(await plant.blob(repo, '"linux"')), OCI_MANIFEST, 'string-config');
    await plant.manifest(repo, image(digestOfBytes(Buffer.from('never stored'))), OCI_MANIFEST, 'missing-config');
    await plant.manifest(repo, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: 5, layers: 'x' }, OCI_MANIFEST, 'bad-shape');
    await plant.manifest(repo, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: 'nope' }, OCI_INDEX, 'index-bad');
    await plant.manifest(repo, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [null, 7, { digest: 5 }] }, OCI_INDEX, 'index-null-entries');
    const gone = await plant.manifest(repo, image(await plant.blob(repo, '{}')), OCI_MANIFEST, 'missing-manifest-blob');
    await rm(plant.storage.blobs.pathOf(gone));
    await plant.manifest(repo, image(await plant.blob(repo, '{"os":"linux","architecture":')), OCI_MANIFEST, 'truncated-config');
    // untagged manifests that are not JSON objects, and a referrer whose fields have the wrong types
    for (const text of ['not json', 'null', '[]', '"s"']) {
      const bytes = Buffer.from(text);
      await plant.storage.putManifest(repo, digestOfBytes(bytes), bytes, OCI_MANIFEST);
    }
    await plant.manifest(repo, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 7, digest: digestOfBytes(Buffer.from('x')), size: 1 }, layers: [], subject: { digest: SUBJECT }, artifactType: ['x'], annotations: 'nope' }, OCI_MANIFEST);
  });
  after(() => server?.stop());

  test('6.1 /api/repositories answers 200; broken rows are unknown; other repositories are listed', async () => {
    const res = await fetch(`${server.url}/api/repositories?tags=100`);
    assert.equal(res.status, 200, await res.clone().text());
    const repos = ((await res.json()) as { repositories: { name: string; tags: { tag: string; platforms: { platform: string }[] }[] }[] }).repositories;
    const good = repos.find((r) => r.name === 'good/app');
    assert.deepEqual(good?.tags.map((t) => [t.tag, t.platforms.map((p) => p.platform)]), [['1', ['linux/arm64']]]);
    const broken = repos.find((r) => r.name === 'broken/app');
    assert.deepEqual(broken?.tags.map((t) => t.tag).sort(), [...brokenTags].sort());
    for (const tag of broken!.tags) for (const row of tag.platforms) assert.equal(row.platform, 'unknown', `${tag.tag}: ${JSON.stringify(row)}`);

    const page = await browser.newPage();
    try {
      const { errors } = await openPage(page, `${server.url}/r/good/app`);
      assert.deepEqual(errors, []);
      const rows = await page.locator('.tag[data-tag="1"] tr.platform td:first-child').allInnerTexts();
      assert.deepEqual(rows, ['linux/arm64']);
      await openPage(page, `${server.url}/r/broken/app`);
      assert.equal(await page.locator('.tag[data-tag="null-config"] tr.platform td:first-child').innerText(), 'unknown');
      // each broken tag's own page renders, saying what is wrong
      for (const tag of brokenTags) {
        const res = await page.goto(`${server.url}/r/broken/app/-/${tag}`);
        assert.equal(res?.status(), 200, tag);
        assert.ok((await page.locator('.problem').count()) > 0, `${tag}: a message says what is wrong`);
      }
    } finally {
      await page.close();
    }
  });

  test('6.2 the referrers list skips stored manifests it cannot read and copies only well-typed fields', async () => {
    const res = await fetch(`${server.url}/v2/broken/app/referrers/${SUBJECT}`);
    assert.equal(res.status, 200, await res.clone().text());
    const index = (await res.json()) as { manifests: Record<string, unknown>[] };
    assert.equal(index.manifests.length, 1);
    assert.deepEqual(Object.keys(index.manifests[0]!).sort(), ['digest', 'mediaType', 'size']);
  });
});

describe('8. the page behind --htpasswd asks the browser for a login', () => {
  let server: EmbeddedHandle;
  let open: EmbeddedHandle;
  const CHALLENGE = 'Basic realm="polyarch"';

  before(async () => {
    const htpasswd = join(dir.path, 'htpasswd');
    await writeFile(htpasswd, `alice:${bcrypt.hashSync('right', 4)}\n`);
    server = await startEmbedded({ root: join(dir.path, 'auth'), htpasswd });
    open = await startEmbedded({ root: join(dir.path, 'auth'), htpasswd, anonymousRead: true });
    const layout = await openLayout(join(dir.path, 'auth-src'), { create: true });
    const image = await randomImage(layout, { platform: { os: 'linux', architecture: 'amd64' }, tag: '1', bytes: 64, seed: 'auth' });
    // planted through the storage layer: copy would need credentials wired into the client
    const plant = new Planter(server.root);
    for (const bytes of [image.config.bytes, ...image.layers.map((l) => l.bytes)]) await plant.blob('private/app', Buffer.from(bytes));
    await plant.storage.putManifest('private/app', image.manifest.digest, Buffer.from(image.manifest.bytes), image.manifest.mediaType, '1');
  });
  after(async () => {
    await server?.stop();
    await open?.stop();
  });

  test('8.1 without credentials the page and its API answer 401 with a Basic challenge', async () => {
    for (const path of ['/', '/api/repositories', '/v2/', '/v2/_catalog']) {
      const res = await fetch(`${server.url}${path}`);
      await res.arrayBuffer();
      assert.equal(res.status, 401, path);
      assert.equal(res.headers.get('www-authenticate'), CHALLENGE, path);
    }
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      // With no credentials to give, Chromium cancels the login and the navigation fails; the answer is what counts.
      const answer = page.waitForResponse(`${server.url}/`);
      await page.goto(`${server.url}/`).catch(() => undefined);
      const res = await answer;
      assert.equal(res.status(), 401);
      assert.equal(await res.headerValue('www-authenticate'), CHALLENGE);
    } finally {
      await context.close();
    }
  });

  test('8.2 with credentials (the browser answers the challenge) the page lists repositories', async () => {
    const context = await browser.newContext({ httpCredentials: { username: 'alice', password: 'right' } });
    try {
      const page = await context.newPage();
      const { errors } = await openPage(page, `${server.url}/r/private/app`);
      assert.deepEqual(errors, []);
      const rows = await page.locator('.tag[data-tag="1"] tr.platform td:first-child').allInnerTexts();
      assert.deepEqual(rows, ['linux/amd64']);
    } finally {
      await context.close();
    }
    // --anonymous-read: the page is public
    const anon = await browser.newPage();
    try {
      await openPage(anon, `${open.url}/r/private/app`);
      assert.deepEqual(await anon.locator('.tag[data-tag="1"] tr.platform td:first-child').allInnerTexts(), ['linux/amd64']);
    } finally {
      await anon.close();
    }
  });
});
