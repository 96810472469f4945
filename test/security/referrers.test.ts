// Hostile referrers lists: a registry (here a proxy in front of polyarch serve that answers the
// referrers requests itself) may list manifests that refer to something else, list a cycle, list
// without end, or answer with something that is no referrers index. A copy takes only what names
// its subject, always ends, and fails on the rest with one line before writing anything.
import assert from 'node:assert/strict';
import { access, readdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { copy } from '../../src/ops/copy.js';
import { inspect } from '../../src/ops/inspect.js';
import { MAX_REFERRER_DEPTH, MAX_REFERRERS } from '../../src/ops/referrers.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { createRegistryClient } from '../../src/registry/client.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { randomImage, type GeneratedImage } from '../helpers/images.js';
import { startProxy, type ProxyHandle } from '../helpers/proxy.js';
import { OCI_INDEX, OCI_MANIFEST, pushBlob, pushManifest, type Desc } from '../helpers/registry-push.js';
import { runCli, withoutProgress } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

async function pushArtifact(url: string, repo: string, content: string, subject: Desc): Promise<Desc> {
  const empty = await pushBlob(url, repo, '{}', MediaType.OciEmpty);
  const layer = await pushBlob(url, repo, content, 'application/vnd.example.data');
  return pushManifest(url, repo, undefined, { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.example.signature', config: empty, layers: [layer], subject });
}

function descOf(image: GeneratedImage): Desc {
  return { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size };
}

function answer(res: ServerResponse, body: string, headers: Record<string, string> = { 'content-type': OCI_INDEX }): true {
  res.writeHead(200, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
  return true;
}

function referrersOf(req: IncomingMessage): string | undefined {
  return req.method === 'GET' ? /\/referrers\/(sha256:[a-f0-9]{64})/.exec(req.url ?? '')?.[1] : undefined;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('hostile referrers lists', () => {
  let registry: EmbeddedHandle;
  let proxy: ProxyHandle;
  let dir: { path: string; remove: () => Promise<void> };
  let image: GeneratedImage;
  let other: GeneratedImage;
  let ownSignature: Desc;
  let othersSignature: Desc;

  before(async () => {
    [registry, dir] = await Promise.all([startEmbedded(), tempDir()]);
    proxy = await startProxy(registry.host);
    const client = createRegistryClient(registry.host);
    try {
      image = await randomImage(client.repository('app'), { platform: parsePlatform('linux/amd64'), seed: 'hostile-a', tag: 'a' });
      other = await randomImage(client.repository('app'), { platform: parsePlatform('linux/arm64'), seed: 'hostile-b', tag: 'b' });
    } finally {
      await client.close();
    }
    ownSignature = await pushArtifact(registry.url, 'app', 'signs a', descOf(image));
    othersSignature = await pushArtifact(registry.url, 'app', 'signs b', descOf(other));
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([registry?.stop(), dir?.remove()]);
  });

  test('a listed manifest whose subject is another one is left behind', async () => {
    proxy.hooks = {
      intercept: (req, res) =>
        referrersOf(req) === image.manifest.digest && answer(res, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...othersSignature, artifactType: 'x' }, ownSignature] })),
    };
    const target = join(dir.path, 'wrong-subject');
    const result = await copy({ source: `${proxy.host}/app:a`, destination: `oci:${target}:a`, referrers: true });
    assert.equal(result.referrers, 1);
    const layout = await openLayout(target);
    assert.deepEqual((await layout.listReferrers(image.manifest.digest)).map((d) => d.digest), [ownSignature.digest]);
    await assert.rejects(layout.getManifest(othersSignature.digest), (e: Error & { code?: string }) => e.code === 'MANIFEST_UNKNOWN');
  });

  test('a cycle (the referrer lists its own subject and itself) ends, each manifest taken once', async () => {
    proxy.hooks = {
      intercept: (req, res) => {
        const subject = referrersOf(req);
        if (subject === image.manifest.digest) return answer(res, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [ownSignature, ownSignature] }));
        if (subject === ownSignature.digest) return answer(res, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descOf(image), ownSignature] }));
        return false;
      },
    };
    const result = await copy({ source: `${proxy.host}/app:a`, destination: `oci:${join(dir.path, 'cycle')}:a`, referrers: true });
    assert.equal(result.referrers, 1);
    assert.equal(result.manifests, 2);
  });

  test('an endless referrers list is cut at the bound with one line, and nothing is written', async () => {
    let pages = 0;
    proxy.hooks = {
      intercept: (req, res) => {
        if (referrersOf(req) !== image.manifest.digest) return false;
        pages++;
        const manifests = Array.from({ length: 100 }, (_, i) => ({ mediaType: OCI_MANIFEST, digest: `sha256:${(pages * 1000 + i).toString(16).padStart(64, '0')}`, size: 10 }));
        return answer(res, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }), {
          'content-type': OCI_INDEX,
          link: `</v2/app/referrers/${image.manifest.digest}?page=${pages + 1}>; rel="next"`,
        });
      },
    };
    const target = join(dir.path, 'endless');
    await assert.rejects(copy({ source: `${proxy.host}/app:a`, destination: `oci:${target}:a`, referrers: true }), (e: Error & { code?: string }) => e.code === 'LIMIT_EXCEEDED' && e.message.includes(`more than ${MAX_REFERRERS}`));
    assert.ok(pages <= MAX_REFERRERS / 100 + 1, `${pages} pages read`);
    const cli = await runCli(['copy', '--referrers', `${proxy.host}/app:a`, `oci:${target}:a`]);
    assert.equal(cli.code, 1);
    const stderr = withoutProgress(cli.stderr).trim();
    assert.equal(stderr.split('\n').length, 1, stderr);
    assert.match(stderr, /more than 1000 referrers.*\[LIMIT_EXCEEDED\]$/);
    assert.ok(!(await exists(join(target, 'index.json'))), 'no layout was written');
  });

  test('referrers nested to the depth bound are copied; one level more fails before anything is written', async () => {
    proxy.hooks = {};
    const client = createRegistryClient(registry.host);
    let subject: Desc;
    try {
      subject = descOf(await randomImage(client.repository('chain'), { platform: parsePlatform('linux/amd64'), seed: 'chain', tag: 'v1' }));
    } finally {
      await client.close();
    }
    for (let level = 1; level <= MAX_REFERRER_DEPTH; level++) subject = await pushArtifact(registry.url, 'chain', `signature level ${level}`, subject);
    const whole = await copy({ source: `${proxy.host}/chain:v1`, destination: `oci:${join(dir.path, 'deep-ok')}:v1`, referrers: true });
    assert.equal(whole.referrers, MAX_REFERRER_DEPTH);

    await pushArtifact(registry.url, 'chain', 'one level too many', subject);
    const target = join(dir.path, 'deep');
    await assert.rejects(
      copy({ source: `${proxy.host}/chain:v1`, destination: `oci:${target}:v1`, referrers: true }),
      (e: Error & { code?: string }) => e.code === 'LIMIT_EXCEEDED' && e.message.includes(`deeper than ${MAX_REFERRER_DEPTH} levels`),
    );
    assert.ok(!(await exists(join(target, 'index.json'))));
  });

  for (const [name, headers, body] of [
    ['an image manifest instead of an index', { 'content-type': OCI_MANIFEST }, JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: `sha256:${'0'.repeat(64)}`, size: 1 }, layers: [] })],
    ['an index body declaring another media type', { 'content-type': OCI_INDEX }, JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [] })],
    ['invalid JSON', { 'content-type': OCI_INDEX }, '{"schemaVersion":2,"manifests":['],
    ['entries that are not descriptors', { 'content-type': OCI_INDEX }, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ digest: 'nope' }] })],
  ] as const) {
    test(`a referrers answer with ${name} fails with one line and writes nothing`, async () => {
      proxy.hooks = { intercept: (req, res) => referrersOf(req) === image.manifest.digest && answer(res, body, headers) };
      const target = join(dir.path, `bad-${name.replace(/\W+/g, '-')}`);
      const cli = await runCli(['copy', '--referrers', `${proxy.host}/app:a`, `oci:${target}:a`]);
      assert.equal(cli.code, 1);
      const stderr = withoutProgress(cli.stderr).trim();
      assert.equal(stderr.split('\n').length, 1, stderr);
      assert.match(stderr, /referrers of .*\[MANIFEST_INVALID\]$/);
      assert.ok(!(await exists(join(target, 'index.json'))));
      assert.deepEqual(await readdir(join(target, 'blobs', 'sha256')).catch(() => []), []);
    });
  }

  test('a fallback tag that points at an image manifest is refused the same way', async () => {
    proxy.hooks = {
      intercept: (req, res) => {
        if (referrersOf(req) === image.manifest.digest) {
          res.writeHead(404, { 'content-length': '0' });
          res.end();
          return true;
        }
        if (req.url === `/v2/app/manifests/sha256-${image.manifest.digest.slice(7)}`) return answer(res, image.manifest.bytes.toString(), { 'content-type': OCI_MANIFEST });
        return false;
      },
    };
    const target = join(dir.path, 'bad-tag');
    await assert.rejects(copy({ source: `${proxy.host}/app:a`, destination: `oci:${target}:a`, referrers: true }), (e: Error & { code?: string }) => e.code === 'MANIFEST_INVALID' && e.message.includes('must be an OCI image index'));
    assert.ok(!(await exists(join(target, 'index.json'))));
  });

  test('inspect of a registry that refuses the referrers API shows none', async () => {
    proxy.hooks = {
      intercept: (req, res) => {
        if (!referrersOf(req)) return false;
        res.writeHead(405, { 'content-length': '0' });
        res.end();
        return true;
      },
    };
    assert.deepEqual((await inspect({ location: `${proxy.host}/app:a` })).referrers, []);
  });
});
