// The web page's data (/api/repositories, /api/tags) follows pushes, retags and deletes through
// the per-repository summary, newest tags first, a page at a time, with a name search.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { copy } from '../../src/ops/copy.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { randomIndex } from '../helpers/images.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { tempDir } from '../helpers/temp-dir.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface TagJson {
  tag: string;
  digest: string;
  kind: string;
  referrers: number;
  platforms: { platform: string; digest: string; size?: number }[];
}

async function json<T>(url: string): Promise<T> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `${url}: ${await res.clone().text()}`);
  return (await res.json()) as T;
}

/** Pushes a one-config image over the registry API (no layers); returns its manifest digest. */
async function pushTiny(base: string, repo: string, tag: string, arch: string, extra: Record<string, unknown> = {}): Promise<string> {
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: arch, created: '2026-01-01T00:00:00Z' }));
  const blob = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${sha(config)}`, { method: 'POST', body: config });
  assert.equal(blob.status, 201);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers: [], ...extra }));
  const put = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': OCI_MANIFEST } });
  assert.equal(put.status, 201, await put.text());
  return sha(manifest);
}

async function retag(base: string, repo: string, from: string, to: string): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${from}`, { headers: { accept: OCI_MANIFEST } });
  const bytes = Buffer.from(await res.arrayBuffer());
  const put = await fetch(`${base}/v2/${repo}/manifests/${to}`, { method: 'PUT', body: bytes, headers: { 'content-type': res.headers.get('content-type')! } });
  assert.equal(put.status, 201);
}

describe('the page index', () => {
  let server: EmbeddedHandle;
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => {
    server = await startEmbedded();
    dir = await tempDir();
  });
  after(async () => {
    await server?.stop();
    await dir?.remove();
  });

  test('tags are listed newest first after push, retag and delete, with their platforms and referrers', async () => {
    const layout = join(dir.path, 'src');
    await randomIndex(await openLayout(layout, { create: true }), [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }], { tag: '1', bytes: 512, seed: 'index-page' });
    await copy({ source: `oci:${layout}:1`, destination: `${server.host}/shop/app:1` });
    const two = await pushTiny(server.url, 'shop/app', '2', 's390x');
    const tags = async (): Promise<TagJson[]> => (await json<{ tags: TagJson[] }>(`${server.url}/api/tags?repository=shop/app`)).tags;

    let listed = await tags();
    assert.deepEqual(listed.map((t) => t.tag), ['2', '1'], 'newest first');
    assert.equal(listed[1]!.kind, 'index');
    assert.deepEqual(listed[1]!.platforms.map((p) => p.platform), ['linux/amd64', 'linux/arm64']);
    assert.ok(listed[1]!.platforms.every((p) => typeof p.size === 'number' && p.size > 0));
    assert.deepEqual(listed[0]!.platforms.map((p) => p.platform), ['linux/s390x']);
    const indexDigest = listed[1]!.digest;

    // retag: `latest` names the index, then `1` moves to the image of `2`
    await retag(server.url, 'shop/app', '1', 'latest');
    await retag(server.url, 'shop/app', '2', '1');
    listed = await tags();
    assert.deepEqual(listed.map((t) => [t.tag, t.digest]), [['1', two], ['latest', indexDigest], ['2', two]]);

    // a referrer of `2` is counted on every tag naming that digest
    const referrer = await pushTiny(server.url, 'shop/app', 'sig-holder', 'riscv64', { subject: { mediaType: OCI_MANIFEST, digest: two, size: 1 } });
    assert.equal(await fetch(`${server.url}/v2/shop/app/manifests/sig-holder`, { method: 'DELETE' }).then((r) => r.status), 202);
    listed = await tags();
    assert.deepEqual(listed.map((t) => [t.tag, t.referrers]), [['1', 1], ['latest', 0], ['2', 1]]);

    // deleting a tag, then a manifest (which takes its tags with it)
    assert.equal((await fetch(`${server.url}/v2/shop/app/manifests/latest`, { method: 'DELETE' })).status, 202);
    assert.deepEqual((await tags()).map((t) => t.tag), ['1', '2']);
    assert.equal((await fetch(`${server.url}/v2/shop/app/manifests/${two}`, { method: 'DELETE' })).status, 202);
    assert.deepEqual(await tags(), []);
    assert.equal((await fetch(`${server.url}/v2/shop/app/manifests/${referrer}`, { method: 'DELETE' })).status, 202);

    // The summary on disk says the same as the API.
    const summary = JSON.parse(await readFile(join(server.root, 'repositories', 'shop', 'app', '_summary.json'), 'utf8')) as { tags: unknown[] };
    assert.deepEqual(summary.tags, []);
  });

  test('repositories are paged and searched; a repository’s tags are paged', async () => {
    for (let i = 0; i < 23; i++) await pushTiny(server.url, `paged/repo-${String(i).padStart(2, '0')}`, 'v1', 'amd64');
    for (let i = 0; i < 25; i++) await pushTiny(server.url, 'paged/many', `t${String(i).padStart(2, '0')}`, `arch${i}`);

    const first = await json<{ total: number; repositories: { name: string; tagCount: number; tags: TagJson[] }[] }>(`${server.url}/api/repositories?q=paged/&per_page=10&tags=3`);
    assert.equal(first.total, 24);
    assert.deepEqual(first.repositories.map((r) => r.name), ['paged/many', ...Array.from({ length: 9 }, (_, i) => `paged/repo-${String(i).padStart(2, '0')}`)]);
    assert.equal(first.repositories[0]!.tagCount, 25);
    assert.deepEqual(first.repositories[0]!.tags.map((t) => t.tag), ['t24', 't23', 't22']);
    const last = await json<{ repositories: { name: string }[] }>(`${server.url}/api/repositories?q=paged/&per_page=10&page=3`);
    assert.deepEqual(last.repositories.map((r) => r.name), ['paged/repo-19', 'paged/repo-20', 'paged/repo-21', 'paged/repo-22']);
    const found = await json<{ total: number; repositories: { name: string }[] }>(`${server.url}/api/repositories?q=REPO-1`);
    assert.equal(found.total, 10);

    const page2 = await json<{ total: number; tags: TagJson[] }>(`${server.url}/api/tags?repository=paged/many&page=2&per_page=10`);
    assert.equal(page2.total, 25);
    assert.deepEqual(page2.tags.map((t) => t.tag), Array.from({ length: 10 }, (_, i) => `t${String(14 - i).padStart(2, '0')}`));
    assert.deepEqual(page2.tags[0]!.platforms.map((p) => p.platform), ['linux/arch14']);

    for (const bad of ['/api/tags?repository=paged/many&page=0', '/api/tags?repository=paged/many&per_page=1000', '/api/repositories?page=x', '/api/tags?repository=../etc', '/api/tags?repository=nope/none']) {
      const res = await fetch(`${server.url}${bad}`);
      assert.ok(res.status === 400 || res.status === 404, `${bad}: ${res.status}`);
      assert.ok(Array.isArray(((await res.json()) as { errors?: unknown }).errors), `${bad}: an OCI error body`);
    }
  });
});
