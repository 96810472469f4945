// The repository name index (`<root>/repositories.json`) is derived data: a hostile or broken
// file — names climbing out with `../`, 10 MB of junk, a symlink to a file elsewhere, a FIFO, a
// name whose directory is a symlink out of the root — is never followed nor trusted; the server
// starts, lists exactly the repositories on disk, and writes a sound file in its place.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startEmbedded } from '../helpers/embedded.js';
import { OCI_CONFIG, OCI_MANIFEST, pushBlob, pushManifest } from '../helpers/registry-push.js';
import { tempDir } from '../helpers/temp-dir.js';

let dir: { path: string; remove: () => Promise<void> };
let root: string;
let outside: string;
const TRUTH = ['one', 'team/two'];

before(async () => {
  dir = await tempDir();
  root = join(dir.path, 'registry');
  outside = join(dir.path, 'outside');
  // A directory out of the root that looks like a repository.
  await mkdir(join(outside, 'evil', '_manifests'), { recursive: true });
  const server = await startEmbedded({ root });
  for (const repo of TRUTH) {
    const config = await pushBlob(server.url, repo, JSON.stringify({ os: 'linux', architecture: 'amd64' }), OCI_CONFIG);
    await pushManifest(server.url, repo, 'latest', { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [] });
  }
  await server.stop();
});
after(() => dir.remove());

const INDEX = (): string => join(root, 'repositories.json');

/** Starts a server on the root as it is now; asserts it lists the truth, then a push after it is indexed too. */
async function assertListsTruth(what: string): Promise<void> {
  const server = await startEmbedded({ root });
  try {
    const res = await fetch(`${server.url}/v2/_catalog`);
    assert.equal(res.status, 200, what);
    assert.deepEqual(((await res.json()) as { repositories: string[] }).repositories, TRUTH, what);
    const api = (await (await fetch(`${server.url}/api/repositories?tags=0`)).json()) as { total: number };
    assert.equal(api.total, TRUTH.length, what);
    const info = await lstat(INDEX());
    assert.ok(info.isFile() && !info.isSymbolicLink(), `${what}: a regular file replaces it`);
    assert.deepEqual(JSON.parse(await readFile(INDEX(), 'utf8')), { version: 1, repositories: TRUTH }, `${what}: rewritten from the directories`);
  } finally {
    await server.stop();
  }
}

test('11.i1 names climbing out of the root, absolute, unsorted or naming no repository are not used', async () => {
  for (const repositories of [['../outside/evil', 'one', 'team/two'], ['/etc', 'one', 'team/two'], ['one', 'team/../../../outside/evil'], ['team/two', 'one'], ['one', 'one', 'team/two'], ['One', 'one', 'team/two'], ['one', 'team/two', 7], ['one', 'team/two', 'x\u0000y'], ['_blobs', 'one', 'team/two'], ['one', 'team/./two']]) {
    await writeFile(INDEX(), JSON.stringify({ version: 1, repositories }));
    await assertListsTruth(JSON.stringify(repositories));
  }
});

test('11.i2 10 MB of junk, a wrong shape and an empty file do not stop the server', async () => {
  await writeFile(INDEX(), randomBytes(10 * 1024 * 1024));
  await assertListsTruth('10 MB of random bytes');
  await writeFile(INDEX(), `{"version":1,"repositories":[${'"one",'.repeat(2_000_000)}"team/two"]}`);
  await assertListsTruth('12 MB of repeated names');
  for (const text of ['', '[]', '{"version":2,"repositories":["one","team/two"]}', '{"version":1}', '{"version":1,"repositories":"one"}']) {
    await writeFile(INDEX(), text);
    await assertListsTruth(JSON.stringify(text));
  }
});

test('11.i3 a symlink or a FIFO under the name is not followed, and the file it points at is left alone', async () => {
  const elsewhere = join(dir.path, 'elsewhere.json');
  const content = JSON.stringify({ version: 1, repositories: ['one', 'planted', 'team/two'] });
  await writeFile(elsewhere, content);
  await rm(INDEX(), { force: true });
  await symlink(elsewhere, INDEX());
  await assertListsTruth('a symlink to a file elsewhere');
  assert.equal(await readFile(elsewhere, 'utf8'), content, 'the symlink target is unchanged');
  await rm(INDEX(), { force: true });
  execFileSync('mkfifo', [INDEX()]);
  await assertListsTruth('a FIFO');
});

test('11.i4 a listed name whose directory is a symlink out of the root is dropped', async () => {
  await symlink(outside, join(root, 'repositories', 'out'));
  try {
    // `out/evil` is path-safe and sorted, and `repositories/out/evil/_manifests` exists — through a symlink.
    await writeFile(INDEX(), JSON.stringify({ version: 1, repositories: ['one', 'out/evil', 'team/two'] }));
    await assertListsTruth('a listed name through a symlinked directory');
    // the rebuild from the directories does not follow it either
    await rm(INDEX());
    await assertListsTruth('a rebuild beside a symlinked directory');
  } finally {
    await rm(join(root, 'repositories', 'out'));
  }
});
