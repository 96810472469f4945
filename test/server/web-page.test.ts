// The registry's web page in a real browser (Debian's chromium driven by playwright-core):
// a 4-platform index shows its platform matrix. A screenshot is kept for people to look at.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { copy } from '../../src/ops/copy.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { randomIndex } from '../helpers/images.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { tempDir } from '../helpers/temp-dir.js';

const CHROMIUM = '/usr/bin/chromium';

let server: EmbeddedHandle;
let dir: { path: string; remove: () => Promise<void> };
let browser: Browser;

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install the Debian package chromium`);
  server = await startEmbedded();
  dir = await tempDir();
  const platforms = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' },
    { os: 'linux', architecture: 'arm', variant: 'v7' },
    { os: 'linux', architecture: 's390x' },
  ];
  await randomIndex(await openLayout(join(dir.path, 'src'), { create: true }), platforms, { tag: '3.20', bytes: 2048, seed: 'page' });
  await copy(`oci:${join(dir.path, 'src')}:3.20`, `${server.host}/library/alpine:3.20`);
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

test('the page lists the repository, its tag and the four platforms', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  const tag = page.locator('[data-repo="library/alpine"] + .tag[data-tag="3.20"]');
  await tag.waitFor();
  assert.match(await tag.locator('.kind').innerText(), /index · 4 platforms/);
  const rows = await tag.locator('tr.platform td:first-child').allInnerTexts();
  assert.deepEqual(rows, ['linux/amd64', 'linux/arm64', 'linux/arm/v7', 'linux/s390x']);
  await page.screenshot({ path: join(process.cwd(), 'build', 'registry-page.png'), fullPage: true });
});

test('the page shows the newest tags, fetches older ones on demand, and searches repositories by name', async () => {
  const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'riscv64' }));
  assert.equal((await fetch(`${server.url}/v2/many/tags/blobs/uploads/?digest=${sha(config)}`, { method: 'POST', body: config })).status, 201);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers: [] }));
  for (let i = 0; i < 13; i++) {
    const put = await fetch(`${server.url}/v2/many/tags/manifests/v${i}`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(put.status, 201);
  }
  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  await page.locator('[data-repo="many/tags"]').waitFor();
  const shown = (): Promise<string[]> => page.locator('.tag').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-tag') ?? '').filter((t) => t.startsWith('v')));
  assert.deepEqual(await shown(), ['v12', 'v11', 'v10', 'v9', 'v8', 'v7', 'v6', 'v5', 'v4', 'v3'], 'the ten newest, newest first');
  await page.locator('button.more').click();
  await page.locator('.tag[data-tag="v0"]').waitFor();
  assert.deepEqual((await shown()).slice(10), ['v2', 'v1', 'v0']);
  assert.equal(await page.locator('button.more').count(), 0, 'nothing more to fetch');
  // the search shows only matching repositories
  await page.locator('#q').fill('alpine');
  await page.locator('#search button').click();
  await page.waitForURL(/\?q=alpine/);
  await page.locator('[data-repo="library/alpine"]').waitFor();
  assert.equal(await page.locator('[data-repo="many/tags"]').count(), 0);
  assert.match(await page.locator('#pager').innerText(), /1 repositories/);
  await page.close();
});
