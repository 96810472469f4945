// Issue 11: the web page's per-repository summary file is a cache anyone with disk access (or a
// crash mid-write) may have changed. Whatever it holds, the API lists exactly the tags that exist,
// with the digests they point at, and keeps answering; the file is rebuilt from the store.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';

const exec = promisify(execFile);
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function pushTiny(base: string, repo: string, tag: string, arch: string): Promise<string> {
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: arch }));
  assert.equal((await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${sha(config)}`, { method: 'POST', body: config })).status, 201);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers: [] }));
  assert.equal((await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': OCI_MANIFEST } })).status, 201);
  return sha(manifest);
}

interface Listed {
  tag: string;
  digest: string;
  platforms: { platform: string }[];
}

describe('11.3 a hostile or stale page summary is never trusted', () => {
  let server: EmbeddedHandle;
  let file: string;
  let truth: [string, string, string][];
  const repo = 'hostile/summary';

  /** Both listings agree with `truth` (tag, digest, platform), and the server keeps answering. */
  async function assertListsTruth(what: string): Promise<void> {
    const tags = await fetch(`${server.url}/api/tags?repository=${repo}`);
    assert.equal(tags.status, 200, `${what}: ${await tags.clone().text()}`);
    const listed = ((await tags.json()) as { tags: Listed[] }).tags;
    assert.deepEqual(listed.map((t) => [t.tag, t.digest, t.platforms[0]?.platform]).sort(), [...truth].sort(), `${what}: /api/tags`);
    const repos = (await (await fetch(`${server.url}/api/repositories?q=${repo}`)).json()) as { repositories: { name: string; tagCount: number; tags: Listed[] }[] };
    assert.equal(repos.repositories.length, 1);
    assert.equal(repos.repositories[0]!.tagCount, truth.length, `${what}: tag count`);
    assert.deepEqual(repos.repositories[0]!.tags.map((t) => [t.tag, t.digest]).sort(), truth.map(([t, d]) => [t, d]).sort(), `${what}: /api/repositories`);
    assert.equal((await fetch(`${server.url}/v2/`)).status, 200, `${what}: the server still answers`);
  }

  before(async () => {
    server = await startEmbedded();
    const one = await pushTiny(server.url, repo, '1', 'amd64');
    const two = await pushTiny(server.url, repo, '2', 'arm64');
    truth = [
      ['1', one, 'linux/amd64'],
      ['2', two, 'linux/arm64'],
    ];
    file = join(server.root, 'repositories', 'hostile', 'summary', '_summary.json');
  });
  after(() => server?.stop());

  test('11.3 deleted, truncated, not JSON, or of the wrong shape: rebuilt, and the listing is right', async () => {
    await assertListsTruth('as pushed');
    const real = await readFile(file, 'utf8');
    const valid = JSON.parse(real) as { names: string[]; tags: { tag: string; digest: string; updated: number; description: { platforms: unknown[] } }[] };
    const cases: [string, string | undefined][] = [
      ['deleted', undefined],
      ['empty (a crash before the data landed)', ''],
      ['truncated', real.slice(0, Math.floor(real.length / 2))],
      ['not JSON', '<html>'],
      ['deeply nested', '['.repeat(200_000)],
      ['wrong types', JSON.stringify({ ...valid, tags: valid.tags.map((t) => ({ ...t, updated: 'now', description: { ...t.description, platforms: 'x' } })) })],
      ['a size that is HTML', JSON.stringify({ ...valid, tags: valid.tags.map((t) => ({ ...t, description: { ...t.description, platforms: [{ platform: 'linux/amd64', digest: t.digest, size: '<img src=x>' }] } })) })],
      ['a tag listed twice', JSON.stringify({ ...valid, tags: [...valid.tags, valid.tags[0]] })],
    ];
    for (const [what, content] of cases) {
      if (content === undefined) await rm(file, { force: true });
      else await writeFile(file, content);
      await assertListsTruth(what);
      const rebuilt = JSON.parse(await readFile(file, 'utf8')) as { names: string[] };
      assert.deepEqual(rebuilt.names, ['1', '2'], `${what}: the file was rebuilt`);
    }
  });

  test('11.3 a well-formed summary naming a tag that does not exist, or another digest, is not believed', async () => {
    const valid = JSON.parse(await readFile(file, 'utf8')) as { names: string[]; tags: { tag: string; digest: string; updated: number; description: unknown }[] };
    // a ghost tag, listed first, with the stamp of the real file
    const ghost = { ...valid.tags[0]!, tag: 'ghost', updated: Date.now() + 1e9 };
    await writeFile(file, JSON.stringify({ ...valid, names: [...valid.names, 'ghost'].sort(), tags: [ghost, ...valid.tags] }));
    await assertListsTruth('ghost tag');
    // every tag pointed at the other one's digest
    const swapped = valid.tags.map((t, i) => ({ ...t, digest: valid.tags[(i + 1) % valid.tags.length]!.digest }));
    await writeFile(file, JSON.stringify({ ...valid, tags: swapped }));
    await assertListsTruth('swapped digests');
  });

  test('11.3 a directory or a FIFO under the summary name neither hangs nor fails a request', async () => {
    await rm(file, { force: true });
    await mkdir(file);
    await assertListsTruth('a directory');
    await rm(file, { recursive: true });
    await exec('mkfifo', [file]);
    await assertListsTruth('a FIFO');
    await rm(file);
  });

  test('11.3 tags changed on disk behind the server (another process, a crash) are seen', async () => {
    await assertListsTruth('before');
    const tagsDir = join(server.root, 'repositories', 'hostile', 'summary', '_tags');
    // a new tag written by hand next to the summary
    await writeFile(join(tagsDir, 'by-hand'), truth[0]![1]);
    truth.push(['by-hand', truth[0]![1], truth[0]![2]]);
    await assertListsTruth('a tag added on disk');
    // an existing tag pointed elsewhere on disk (same names, so only its digest tells)
    await writeFile(join(tagsDir, '2'), truth[0]![1]);
    truth[1] = ['2', truth[0]![1], truth[0]![2]];
    await assertListsTruth('a tag moved on disk');
    await rm(join(tagsDir, 'by-hand'));
    truth.pop();
    await assertListsTruth('a tag removed on disk');
  });
});
