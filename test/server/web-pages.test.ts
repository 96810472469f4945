// The registry's web pages in a real browser (Debian's chromium driven by playwright-core),
// served by `polyarch serve` as its own process: the repository list, a repository's tags and a
// tag's page, each at a phone and a desktop width, with what a person sees asserted, a screenshot
// kept in build/test-artifacts/screenshots/, and axe-core failing the test on serious or critical
// accessibility violations. The pages also work with JavaScript off and behind --htpasswd.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { copy } from '../../src/ops/copy.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { makeLayer, randomIndex } from '../helpers/images.js';
import { OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, pushBlob, pushManifest, type Desc } from '../helpers/registry-push.js';
import { startServeProcess } from '../helpers/serve-process.js';
import { tempDir } from '../helpers/temp-dir.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = join(process.cwd(), 'build', 'test-artifacts', 'screenshots');
const AXE_SOURCE = (createRequire(import.meta.url)('axe-core') as { source: string }).source;
const VIEWPORTS = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'desktop', width: 1280, height: 800 },
] as const;

let browser: Browser;
let dir: { path: string; remove: () => Promise<void> };
let serve: { child: ChildProcess; host: string };
let base: string;
const digests: { index?: string; arm64?: string; sbom?: string; signature?: string } = {};

/** An image whose config says what the tag page shows: entrypoint, cmd, env, user, ports, labels, history. */
async function pushImage(url: string, repo: string, arch: string, variant?: string): Promise<Desc & { platform: Record<string, string> }> {
  const layers = [await makeLayer(`web-${arch}-0`, 4096), await makeLayer(`web-${arch}-1`, 20_000)];
  for (const l of layers) await pushBlob(url, repo, l.bytes);
  const platform = { os: 'linux', architecture: arch, ...(variant ? { variant } : {}) };
  const config = {
    ...platform,
    created: '2026-11-30T12:00:00Z',
    config: {
      Entrypoint: ['/usr/bin/web-server'],
      Cmd: ['--listen', ':8080'],
      Env: ['PATH=/usr/local/bin:/usr/bin:/bin', `TARGET_ARCH=${arch}`],
      User: '1000:1000',
      WorkingDir: '/srv',
      ExposedPorts: { '8080/tcp': {}, '9090/tcp': {} },
      Labels: { 'org.opencontainers.image.source': 'https://example.com/web', 'org.opencontainers.image.version': '1.4.2' },
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: [
      { created: '2026-11-30T12:00:00Z', created_by: 'COPY web-server /usr/bin/web-server # buildkit' },
      { created: '2026-11-30T12:00:00Z', created_by: 'ENV TARGET_ARCH=' + arch, empty_layer: true },
      { created: '2026-11-30T12:00:00Z', created_by: 'RUN /bin/sh -c mkdir -p /srv/data # buildkit' },
    ],
  };
  const configDesc = await pushBlob(url, repo, JSON.stringify(config), OCI_CONFIG);
  const manifest = await pushManifest(url, repo, undefined, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDesc, layers: layers.map((l) => l.descriptor) });
  return { ...manifest, platform };
}

/** An artifact (an SBOM, a signature) with `subject`, pushed as oras does. */
async function pushReferrer(url: string, repo: string, artifactType: string, subject: Desc, content: string): Promise<string> {
  const empty = await pushBlob(url, repo, '{}', 'application/vnd.oci.empty.v1+json');
  const blob = await pushBlob(url, repo, content, 'application/octet-stream');
  const manifest = await pushManifest(url, repo, undefined, { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType, config: empty, layers: [blob], subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } });
  return manifest.digest;
}

/** Runs axe-core in the page; fails on serious or critical violations, naming each. */
async function assertAccessible(page: Page, what: string): Promise<void> {
  // evaluate (the debugging protocol) is not subject to the page's CSP, which forbids inline script.
  await page.evaluate(AXE_SOURCE);
  const results = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] })`)) as { violations: { id: string; impact: string | null; help: string; nodes: { target: unknown }[] }[] };
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => JSON.stringify(n.target)).slice(0, 3).join(', ')})`),
    [],
    `${what}: accessibility violations`,
  );
}

async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

const cells = (page: Page, selector: string): Promise<string[]> => page.locator(selector).allInnerTexts().then((t) => t.map((s) => s.trim()));

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install the Debian package chromium`);
  dir = await tempDir();
  serve = await startServeProcess(join(dir.path, 'root'));
  base = `http://${serve.host}`;

  // A multi-platform index with rich configs, an SBOM referring to the index and a signature of the arm64 image.
  const amd64 = await pushImage(base, 'acme/web', 'amd64');
  const arm64 = await pushImage(base, 'acme/web', 'arm64', 'v8');
  const index = await pushManifest(base, 'acme/web', '1.4.2', {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [amd64, arm64].map((m) => ({ mediaType: m.mediaType, digest: m.digest, size: m.size, platform: m.platform })),
  });
  digests.index = index.digest;
  digests.arm64 = arm64.digest;
  digests.sbom = await pushReferrer(base, 'acme/web', 'application/spdx+json', index, '{"spdxVersion":"SPDX-2.3"}');
  digests.signature = await pushReferrer(base, 'acme/web', 'application/vnd.dev.cosign.artifact.sig.v1+json', arm64, 'signature bytes');

  // An index written by polyarch's own library (copy from an OCI layout).
  await randomIndex(await openLayout(join(dir.path, 'src'), { create: true }), [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 's390x' }], { tag: '3.20', bytes: 2048, seed: 'pages' });
  await copy({ source: `oci:${join(dir.path, 'src')}:3.20`, destination: `${serve.host}/library/alpine:3.20` });

  // Enough repositories for two list pages, and enough tags for two tag pages (20 a page).
  const tiny = async (repo: string, tag: string): Promise<void> => {
    const config = await pushBlob(base, repo, JSON.stringify({ os: 'linux', architecture: 'riscv64', created: '2026-01-01T00:00:00Z' }), OCI_CONFIG);
    await pushManifest(base, repo, tag, { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [] });
  };
  for (let i = 0; i < 20; i++) await tiny(`paged/repo-${String(i).padStart(2, '0')}`, 'v1');
  for (let i = 0; i < 23; i++) await tiny('many/tags', `v${i}`);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  serve?.child.kill('SIGTERM');
  await dir?.remove();
});

async function withPage(options: BrowserContextOptions, fn: (page: Page) => Promise<void>): Promise<void> {
  const context = await browser.newContext(options);
  try {
    await fn(await context.newPage());
  } finally {
    await context.close();
  }
}

for (const viewport of VIEWPORTS) {
  describe(`at ${viewport.width}×${viewport.height} (${viewport.name})`, () => {
    const options = { viewport: { width: viewport.width, height: viewport.height } };

    test('the repository list: names, tag counts, newest tag and its platforms, search and pages', async () => {
      await withPage(options, async (page) => {
        await page.goto(`${base}/`);
        assert.equal((await page.locator('#count').innerText()).trim(), '23 repositories');
        const repos = await page.locator('li.repo').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-repo')));
        assert.deepEqual(repos.slice(0, 3), ['acme/web', 'library/alpine', 'many/tags']);
        assert.equal(repos.length, 20, 'twenty a page');
        const acme = page.locator('li.repo[data-repo="acme/web"]');
        assert.match(await acme.locator('.meta').innerText(), /^1 tag · newest 1\.4\.2 · index · 2 platforms/);
        const alpine = page.locator('li.repo[data-repo="library/alpine"]');
        assert.match(await alpine.locator('.meta').innerText(), /1 tag · newest 3\.20 · index · 2 platforms · updated \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
        assert.deepEqual(await cells(alpine.page(), 'li.repo[data-repo="library/alpine"] ul.chips li'), ['linux/amd64', 'linux/s390x']);
        await screenshot(page, `list-${viewport.width}`);
        await assertAccessible(page, 'list');
        // the second page holds the rest
        await page.getByRole('link', { name: 'next →' }).click();
        await page.waitForURL(/page=2/);
        assert.deepEqual(await page.locator('li.repo').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-repo'))), ['paged/repo-17', 'paged/repo-18', 'paged/repo-19']);
        assert.match(await page.locator('nav.pager').innerText(), /page 2 of 2/);
        // a search
        await page.locator('#q').fill('alp');
        await page.locator('#q').press('Enter');
        await page.waitForURL(/q=alp/);
        assert.deepEqual(await page.locator('li.repo').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-repo'))), ['library/alpine']);
        assert.equal(await page.locator('#q').inputValue(), 'alp');
      });
    });

    test('a repository: tags newest first, paged, each with its platform matrix', async () => {
      await withPage(options, async (page) => {
        await page.goto(`${base}/r/many/tags`);
        const tags = (): Promise<(string | null)[]> => page.locator('li.tag').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-tag')));
        assert.deepEqual((await tags()).slice(0, 3), ['v22', 'v21', 'v20']);
        assert.equal((await tags()).length, 20);
        assert.deepEqual(await cells(page, 'li.tag[data-tag="v22"] tr.platform td:first-child'), ['linux/riscv64']);
        await page.getByRole('link', { name: 'next →' }).click();
        await page.waitForURL(/page=2/);
        assert.deepEqual(await tags(), ['v2', 'v1', 'v0']);

        await page.goto(`${base}/r/acme/web`);
        assert.equal((await page.locator('h1').innerText()).trim(), 'acme/web');
        const card = page.locator('li.tag[data-tag="1.4.2"]');
        assert.match(await card.locator('.meta').innerText(), /1 referrer/);
        assert.deepEqual(await cells(page, 'li.tag[data-tag="1.4.2"] tr.platform td:first-child'), ['linux/amd64', 'linux/arm64/v8']);
        assert.match(await page.locator('.cmd code').first().innerText(), new RegExp(`^docker pull ${serve.host.replace(/\./g, '\\.')}/acme/web@sha256:[a-f0-9]{64}$`));
        await screenshot(page, `repository-${viewport.width}`);
        await assertAccessible(page, 'repository');
      });
    });

    test('a tag: platform matrix, config, layers with sizes, history, referrers and pull commands', async () => {
      await withPage(options, async (page) => {
        await page.goto(`${base}/r/acme/web/-/1.4.2`);
        assert.equal((await page.locator('h1').innerText()).trim(), 'acme/web:1.4.2');
        assert.deepEqual(await cells(page, 'tr.platform td:first-child'), ['linux/amd64', 'linux/arm64/v8']);
        const commands = await cells(page, '.cmd code');
        assert.equal(commands[0], `docker pull ${serve.host}/acme/web@${digests.index}`);
        assert.equal(commands[1], `polyarch copy ${serve.host}/acme/web@${digests.index} oci:./web:1.4.2`);
        assert.ok(commands.includes(`docker pull --platform linux/arm64/v8 ${serve.host}/acme/web@${digests.arm64}`));
        // the index's referrers: the SBOM
        assert.deepEqual(await cells(page, 'section[aria-labelledby="referrers"] tr.referrer td:first-child'), ['application/spdx+json']);
        const arm = page.locator('section.image[data-platform="linux/arm64/v8"]');
        assert.deepEqual(await arm.locator('dd[data-field="entrypoint"] li').allInnerTexts(), ['/usr/bin/web-server']);
        assert.deepEqual(await arm.locator('dd[data-field="cmd"] li').allInnerTexts(), ['--listen', ':8080']);
        assert.equal((await arm.locator('dd[data-field="user"]').innerText()).trim(), '1000:1000');
        assert.equal((await arm.locator('dd[data-field="ports"]').innerText()).trim(), '8080/tcp 9090/tcp');
        assert.deepEqual(await arm.locator('dd[data-field="env"] li').allInnerTexts(), ['PATH=/usr/local/bin:/usr/bin:/bin', 'TARGET_ARCH=arm64']);
        assert.ok((await arm.locator('dd[data-field="labels"] li').allInnerTexts()).includes('org.opencontainers.image.version = 1.4.2'));
        const layerSizes = await arm.locator('tr.layer td:nth-child(3)').allInnerTexts();
        assert.equal(layerSizes.length, 2);
        for (const s of layerSizes) assert.match(s, /^\d+(\.\d)? kB$/);
        assert.deepEqual((await arm.locator('ol.history li code').allInnerTexts()).map((s) => s.trim()), ['COPY web-server /usr/bin/web-server # buildkit', 'ENV TARGET_ARCH=arm64', 'RUN /bin/sh -c mkdir -p /srv/data # buildkit']);
        // the arm64 image's own referrer: the signature; amd64 has none
        assert.deepEqual(await arm.locator('tr.referrer td:first-child').allInnerTexts(), ['application/vnd.dev.cosign.artifact.sig.v1+json']);
        assert.ok((await arm.locator('tr.referrer td.digest').innerText()).includes(digests.signature!));
        assert.equal(await page.locator('section.image[data-platform="linux/amd64"] tr.referrer').count(), 0);
        await screenshot(page, `tag-${viewport.width}`);
        await assertAccessible(page, 'tag');
      });
    });
  });
}

test('the copy button puts the pinned pull command on the clipboard', async () => {
  await withPage({ viewport: { width: 1280, height: 800 } }, async (page) => {
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    await page.goto(`${base}/r/acme/web/-/1.4.2`);
    const first = page.locator('.cmd').first();
    await first.getByRole('button', { name: /^Copy command: docker pull/ }).click();
    await first.getByRole('button', { name: /docker pull/ }).filter({ hasText: 'Copied' }).waitFor();
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), `docker pull ${serve.host}/acme/web@${digests.index}`);
  });
});

test('with JavaScript disabled the list, search, pages, tag page and pull commands still render', async () => {
  await withPage({ javaScriptEnabled: false, viewport: { width: 390, height: 844 } }, async (page) => {
    await page.goto(`${base}/`);
    assert.equal((await page.locator('#count').innerText()).trim(), '23 repositories');
    await page.locator('#q').fill('acme');
    await page.locator('form.search button').click();
    await page.waitForURL(/q=acme/);
    assert.deepEqual(await page.locator('li.repo').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-repo'))), ['acme/web']);
    await page.goto(`${base}/r/many/tags`);
    await page.getByRole('link', { name: 'next →' }).click();
    await page.waitForURL(/page=2/);
    assert.deepEqual(await page.locator('li.tag').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-tag'))), ['v2', 'v1', 'v0']);
    await page.goto(`${base}/`);
    await page.getByRole('link', { name: '1.4.2' }).click();
    await page.waitForURL(/\/r\/acme\/web\/-\/1\.4\.2$/);
    assert.deepEqual(await cells(page, 'tr.platform td:first-child'), ['linux/amd64', 'linux/arm64/v8']);
    assert.equal((await cells(page, '.cmd code'))[0], `docker pull ${serve.host}/acme/web@${digests.index}`);
    assert.equal(await page.locator('.cmd button').count(), 0, 'no copy button without the script');
    await screenshot(page, 'tag-no-js-390');
  });
});

describe('behind --htpasswd', () => {
  let locked: { child: ChildProcess; host: string };
  before(async () => {
    const htpasswd = join(dir.path, 'htpasswd');
    await writeFile(htpasswd, `alice:${bcrypt.hashSync('right', 4)}\n`);
    // the same store, served with a login
    serve.child.kill('SIGTERM');
    await new Promise((resolve) => serve.child.once('exit', resolve));
    locked = await startServeProcess(join(dir.path, 'root'), ['--htpasswd', htpasswd]);
  });
  after(() => void locked?.child.kill('SIGTERM'));

  test('no credentials: 401 with a Basic challenge; the browser answering it: the pages render', async () => {
    const url = `http://${locked.host}`;
    for (const path of ['/', '/r/acme/web', '/r/acme/web/-/1.4.2', '/r/nope', '/ui/app.css']) {
      const res = await fetch(`${url}${path}`);
      await res.arrayBuffer();
      assert.equal(res.status, 401, path);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm=/, path);
    }
    await withPage({ httpCredentials: { username: 'alice', password: 'right' } }, async (page) => {
      await page.goto(`${url}/r/acme/web/-/1.4.2`);
      assert.deepEqual(await cells(page, 'tr.platform td:first-child'), ['linux/amd64', 'linux/arm64/v8']);
      assert.equal(await page.locator('.cmd button').count(), 4, 'the script loaded too');
    });
    await withPage({ httpCredentials: { username: 'alice', password: 'wrong' } }, async (page) => {
      const answer = page.waitForResponse(`${url}/`);
      await page.goto(`${url}/`).catch(() => undefined);
      assert.equal((await answer).status(), 401);
    });
  });
});
