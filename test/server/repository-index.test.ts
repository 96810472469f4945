// The registry's repository list (/v2/_catalog, /api/repositories) comes from a name index kept
// on write: it follows pushes, mounts and blob uploads, is unchanged by deletes and garbage
// collection, and survives a restart, a lost index file and a crash's leftover name.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Digest } from '../../src/digest/digest.js';
import { collectServerGarbage } from '../../src/server/server.js';
import { RegistryStorage } from '../../src/server/storage.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { OCI_CONFIG, OCI_MANIFEST, pushBlob, pushManifest } from '../helpers/registry-push.js';
import { tempDir } from '../helpers/temp-dir.js';

let dir: { path: string; remove: () => Promise<void> };
before(async () => (dir = await tempDir()));
after(() => dir.remove());

async function catalog(url: string, query = ''): Promise<{ names: string[]; link: string | null }> {
  const res = await fetch(`${url}/v2/_catalog${query}`);
  assert.equal(res.status, 200);
  return { names: ((await res.json()) as { repositories: string[] }).repositories, link: res.headers.get('link') };
}

async function pageNames(url: string, query = ''): Promise<{ total: number; names: string[] }> {
  const res = await fetch(`${url}/api/repositories?tags=0${query}`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { total: number; repositories: { name: string }[] };
  return { total: body.total, names: body.repositories.map((r) => r.name) };
}

async function indexFile(root: string): Promise<string[]> {
  return (JSON.parse(await readFile(join(root, 'repositories.json'), 'utf8')) as { repositories: string[] }).repositories;
}

async function pushImage(url: string, repo: string, tag: string): Promise<string> {
  const config = await pushBlob(url, repo, JSON.stringify({ os: 'linux', architecture: 'amd64', tag }), OCI_CONFIG);
  const layer = await pushBlob(url, repo, `layer of ${repo}:${tag}`);
  return (await pushManifest(url, repo, tag, { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] })).digest;
}

test('the list follows pushes, mounts and blob uploads, and is unchanged by deletes, GC and restarts', async () => {
  const root = join(dir.path, 'registry');
  let server: EmbeddedHandle = await startEmbedded({ root });
  try {
    assert.deepEqual((await catalog(server.url)).names, []);
    const app = await pushImage(server.url, 'shop/app', '1');
    await pushImage(server.url, 'base', 'latest');
    const gone = await pushImage(server.url, 'shop/old', '1');
    // a repository made by a cross-repository mount alone, and one by a chunked upload alone
    const shared = await pushBlob(server.url, 'shop/app', 'shared layer');
    assert.equal((await fetch(`${server.url}/v2/mirror/app/blobs/uploads/?mount=${shared.digest}&from=shop/app`, { method: 'POST' })).status, 201);
    const start = await fetch(`${server.url}/v2/uploads/only/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const bytes = Buffer.from('chunked blob');
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const location = new URL(start.headers.get('location')!, server.url);
    location.searchParams.set('digest', digest);
    assert.equal((await fetch(location, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } })).status, 201);
    // an upload started but never finished creates nothing
    assert.equal((await fetch(`${server.url}/v2/never/finished/blobs/uploads/`, { method: 'POST' })).status, 202);

    const expected = ['base', 'mirror/app', 'shop/app', 'shop/old', 'uploads/only'];
    assert.deepEqual((await catalog(server.url)).names, expected);
    assert.deepEqual(await indexFile(root), expected, 'the index file says the same');
    assert.deepEqual(await pageNames(server.url), { total: 5, names: expected });
    assert.deepEqual(await pageNames(server.url, '&q=SHOP'), { total: 2, names: ['shop/app', 'shop/old'] });
    assert.deepEqual(await pageNames(server.url, '&per_page=2&page=2'), { total: 5, names: ['shop/app', 'shop/old'] });
    // pagination walks the sorted list from any `last`, present or not
    const first = await catalog(server.url, '?n=2');
    assert.deepEqual(first.names, ['base', 'mirror/app']);
    assert.equal(first.link, '</v2/_catalog?n=2&last=mirror%2Fapp>; rel="next"');
    assert.deepEqual((await catalog(server.url, '?n=2&last=mirror%2Fapp')).names, ['shop/app', 'shop/old']);
    assert.deepEqual((await catalog(server.url, '?n=10&last=r')).names, ['shop/app', 'shop/old', 'uploads/only']);
    assert.equal((await catalog(server.url, '?n=10&last=r')).link, null);

    // Deleting every manifest of a repository leaves it listed (as distribution does).
    assert.equal((await fetch(`${server.url}/v2/shop/old/manifests/${gone}`, { method: 'DELETE' })).status, 202);
    assert.deepEqual((await catalog(server.url)).names, expected);
    // GC beside the running server removes the deleted image's blobs, not a repository.
    const collected = await collectServerGarbage({ root, gracePeriodMs: 0 });
    assert.ok(collected.removed >= 3, `GC removed ${collected.removed}`);
    assert.deepEqual((await catalog(server.url)).names, expected);
    assert.equal((await fetch(`${server.url}/v2/shop/app/manifests/${app}`, { method: 'HEAD', headers: { accept: OCI_MANIFEST } })).status, 200);

    // A restart reads the index; a new repository after it is added in order.
    await server.stop();
    server = await startEmbedded({ root });
    assert.deepEqual((await catalog(server.url)).names, expected);
    await pushImage(server.url, 'aaa', '1');
    assert.deepEqual((await catalog(server.url)).names, ['aaa', ...expected]);
    assert.deepEqual(await indexFile(root), ['aaa', ...expected]);

    // Another process writing the root (a second RegistryStorage) saves its names under the
    // root's lock; the running server's next listing takes them in.
    const other = new RegistryStorage(root);
    await other.linkBlob('zzz/other', app as Digest);
    assert.deepEqual((await catalog(server.url)).names, ['aaa', ...expected, 'zzz/other']);
    await pushImage(server.url, 'bbb', '1');
    assert.deepEqual(await indexFile(root), ['aaa', 'base', 'bbb', ...expected.slice(1), 'zzz/other'], 'neither process drops the other\'s names');
    await server.stop();
    await rm(join(root, 'repositories', 'zzz'), { recursive: true });
    await rm(join(root, 'repositories', 'bbb'), { recursive: true });
    server = await startEmbedded({ root });

    // Lost: rebuilt from the directories at the next start, and written again.
    await server.stop();
    await rm(join(root, 'repositories.json'));
    server = await startEmbedded({ root });
    assert.deepEqual((await catalog(server.url)).names, ['aaa', ...expected]);
    assert.deepEqual(await indexFile(root), ['aaa', ...expected]);

    // A crash between saving a new name and creating its directory leaves the name alone in the
    // file, and a repository written by hand leaves the file behind: the first is dropped at the
    // next start (the second is seen once the file is rebuilt, which a missing file forces).
    await server.stop();
    await writeFile(join(root, 'repositories.json'), JSON.stringify({ version: 1, repositories: ['aaa', 'base', 'crashed/before-write', ...expected.slice(1)] }));
    server = await startEmbedded({ root });
    assert.deepEqual((await catalog(server.url)).names, ['aaa', ...expected]);
    assert.deepEqual(await indexFile(root), ['aaa', ...expected], 'the leftover name is dropped from the file too');
    await server.stop();
    await mkdir(join(root, 'repositories', 'by', 'hand', '_manifests'), { recursive: true });
    await rm(join(root, 'repositories.json'));
    server = await startEmbedded({ root });
    assert.deepEqual((await catalog(server.url)).names, ['aaa', 'base', 'by/hand', ...expected.slice(1)]);
  } finally {
    await server.stop();
  }
});

test("a tag whose name ends like a temp file's (v1.polyarch-tmp) survives a restart: only polyarch's own temp names are crash leftovers", async () => {
  const root = join(dir.path, 'temp-like-tag');
  let server: EmbeddedHandle = await startEmbedded({ root });
  try {
    await pushImage(server.url, 'app', 'v1.polyarch-tmp');
    await server.stop();
    server = await startEmbedded({ root });
    const res = await fetch(`${server.url}/v2/app/manifests/v1.polyarch-tmp`, { method: 'HEAD', headers: { accept: OCI_MANIFEST } });
    assert.equal(res.status, 200);
  } finally {
    await server.stop();
  }
});
