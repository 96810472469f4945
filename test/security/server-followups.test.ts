// Follow-ups to the serve hardening: GC beside a live server, blob deletes that would break a
// stored image, hostile stored manifest media types, and bounded blob pushes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { digestOfBytes, encodedPart, type Digest } from '../../src/digest/digest.js';
import { createRegistryServer } from '../../src/server/server.js';
import { startEmbedded } from '../helpers/embedded.js';
import { ociCode, rawRequest } from '../helpers/raw-http.js';
import { OCI_MANIFEST, OCI_CONFIG, pushBlob, pushManifest } from '../helpers/registry-push.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';


let dir: { path: string; remove: () => Promise<void> };
before(async () => (dir = await tempDir()));
after(() => dir.remove());

async function blobStatus(url: string, repo: string, digest: Digest): Promise<number> {
  const res = await fetch(`${url}/v2/${repo}/blobs/${digest}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (res.status === 200) assert.equal(digestOfBytes(bytes), digest, `blob ${digest} served the wrong bytes`);
  return res.status;
}

test('9.f1 serve --gc beside a live server on the same root keeps open uploads and freshly pushed blobs', async () => {
  const root = join(dir.path, 'live');
  const server = await startEmbedded({ root });
  try {
    const repo = 'live/app';
    // an upload session with its first chunk written
    const started = await fetch(`${server.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    assert.equal(started.status, 202);
    const location = started.headers.get('location')!;
    const first = Buffer.from('first half of a layer being pushed, ');
    const second = Buffer.from('second half sent after the collection ran');
    const patched = await fetch(`${server.url}${location}`, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${first.length - 1}` }, body: first });
    assert.equal(patched.status, 202, await patched.text());
    // a blob just pushed, not referenced by any manifest yet (its manifest comes next)
    const fresh = await pushBlob(server.url, repo, 'a layer whose manifest is about to be pushed');

    const gc = await runCli(['serve', '--gc', '--root', root]);
    assert.equal(gc.code, 0, gc.stderr);

    // the session is still there and can be finished
    const whole = Buffer.concat([first, second]);
    const patched2 = await fetch(`${server.url}${location}`, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'content-range': `${first.length}-${whole.length - 1}` }, body: second });
    assert.equal(patched2.status, 202, `the upload session survived GC: ${await patched2.text()}`);
    const finished = await fetch(`${server.url}${location}?digest=${digestOfBytes(whole)}`, { method: 'PUT' });
    assert.equal(finished.status, 201, await finished.text());
    assert.equal(await blobStatus(server.url, repo, digestOfBytes(whole)), 200);
    // the fresh blob is still served, and its manifest can now be pushed
    assert.equal(await blobStatus(server.url, repo, fresh.digest), 200, 'a blob pushed moments before GC is kept (grace period)');
    const config = await pushBlob(server.url, repo, '{"os":"linux","architecture":"amd64"}', OCI_CONFIG);
    await pushManifest(server.url, repo, 'v1', { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [fresh] });

    // with no grace period an unreferenced blob does go (the collection still collects)
    const stray = await pushBlob(server.url, repo, 'never referenced');
    const gc0 = await runCli(['serve', '--gc', '--gc-grace', '0s', '--root', root]);
    assert.equal(gc0.code, 0, gc0.stderr);
    assert.equal(existsSync(join(root, 'blobs', 'sha256', encodedPart(stray.digest))), false, 'stray blob collected');
    assert.equal(await blobStatus(server.url, repo, fresh.digest), 200, 'referenced layer kept');
  } finally {
    await server.stop();
  }
});

test('9.f2 DELETE of a blob a stored manifest of the repository uses is refused (405 UNSUPPORTED); an unused one is deleted', async () => {
  const server = await startEmbedded();
  try {
    const repo = 'del/app';
    const layer = await pushBlob(server.url, repo, 'layer in use');
    const config = await pushBlob(server.url, repo, '{"os":"linux","architecture":"arm64"}', OCI_CONFIG);
    const manifest = await pushManifest(server.url, repo, 'v1', { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] });
    const untagged = await pushBlob(server.url, repo, 'layer of an untagged manifest');
    await pushManifest(server.url, repo, undefined, { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [untagged] });
    const unused = await pushBlob(server.url, repo, 'layer nobody uses');
    for (const used of [layer, config, manifest, untagged]) {
      const res = await rawRequest(`${server.url}/v2/${repo}/blobs/${used.digest}`, { method: 'DELETE' });
      assert.equal(res.status, 405, `DELETE ${used.digest}: ${res.body.toString()}`);
      assert.equal(ociCode(res), 'UNSUPPORTED');
      assert.match(res.body.toString(), /manifest/);
    }
    assert.equal(await blobStatus(server.url, repo, layer.digest), 200, 'the layer is still served');
    assert.equal(await blobStatus(server.url, repo, config.digest), 200);
    assert.equal((await fetch(`${server.url}/v2/${repo}/manifests/v1`)).status, 200);
    assert.equal((await fetch(`${server.url}/v2/${repo}/blobs/${unused.digest}`, { method: 'DELETE' })).status, 202);
    assert.equal(await blobStatus(server.url, repo, unused.digest), 404);
    // once the manifest is gone, its layer may be deleted
    assert.equal((await fetch(`${server.url}/v2/${repo}/manifests/${manifest.digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await fetch(`${server.url}/v2/${repo}/blobs/${layer.digest}`, { method: 'DELETE' })).status, 202);
  } finally {
    await server.stop();
  }
});

test('9.f3 a manifest stored with a hostile media type is never served with it', async () => {
  const root = join(dir.path, 'hostile-type');
  const server = await createRegistryServer({ root });
  const { url } = await server.listen(0, '127.0.0.1');
  try {
    const repo = 'planted/app';
    const withType = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: `sha256:${'a'.repeat(64)}`, size: 2 }, layers: [] }));
    const withoutType = Buffer.from('<html><script>alert(1)</script></html>');
    // stored type → what the answer may say for a manifest that names its own type / one that does not
    const cases: [string, string, string][] = [
      ['text/html', OCI_MANIFEST, 'application/octet-stream'],
      ['text/html; charset=utf-8', OCI_MANIFEST, 'application/octet-stream'],
      ['image/svg+xml', OCI_MANIFEST, 'application/octet-stream'],
      ['application/xhtml+xml', OCI_MANIFEST, 'application/octet-stream'],
      ['application/vnd.example.artifact+json', OCI_MANIFEST, 'application/octet-stream'],
      ['application/vnd.oci.image.manifest.v1+json\r\nx-injected: 1', OCI_MANIFEST, 'application/octet-stream'],
      ['', OCI_MANIFEST, 'application/octet-stream'],
      ['application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.v2+json'],
    ];
    let n = 0;
    for (const [stored, expectTyped, expectUntyped] of cases) {
      for (const [bytes, expected] of [[withType, expectTyped], [withoutType, expectUntyped]] as const) {
        const tag = `t${n++}`;
        await server.storage.putManifest(repo, digestOfBytes(bytes), bytes, stored, tag);
        for (const method of ['GET', 'HEAD']) {
          const res = await rawRequest(`${url}/v2/${repo}/manifests/${tag}`, { method });
          assert.equal(res.status, 200, `${method} stored as ${JSON.stringify(stored)}: ${res.body.toString()}`);
          assert.equal(res.headers['content-type'], expected, `${method} stored as ${JSON.stringify(stored)}`);
          assert.equal(res.headers['x-injected'], undefined);
        }
      }
    }
  } finally {
    await server.close();
  }
});

test('9.f4 maxBlobSize caps one-request pushes, upload sessions and session-opening bodies (413, nothing stored)', async () => {
  const server = await startEmbedded({ maxBlobSize: 1000 });
  try {
    const repo = 'cap/app';
    const small = Buffer.alloc(1000, 1);
    const big = Buffer.alloc(1001, 2);
    await pushBlob(server.url, repo, small);
    // declared too large, and too large without a declared length (chunked)
    const declared = await rawRequest(`${server.url}/v2/${repo}/blobs/uploads/?digest=${digestOfBytes(big)}`, { method: 'POST', headers: { 'content-length': big.length }, body: big });
    assert.equal(declared.status, 413);
    assert.equal(ociCode(declared), 'SIZE_INVALID');
    const chunked = await rawRequest(`${server.url}/v2/${repo}/blobs/uploads/?digest=${digestOfBytes(big)}`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: [big.subarray(0, 600), 20, big.subarray(600)] });
    assert.equal(chunked.status, 413);
    assert.equal(await blobStatus(server.url, repo, digestOfBytes(big)), 404);
    // nor may the (ignored) body of a POST that opens a session
    for (const headers of [{ 'content-length': big.length }, { 'transfer-encoding': 'chunked' }]) {
      const opening = await rawRequest(`${server.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers, body: [big.subarray(0, 500), 20, big.subarray(500)] });
      assert.equal(opening.status, 413, `session POST with ${Object.keys(headers)[0]}`);
    }
    // an upload session may not grow past the cap either, chunk by chunk
    const started = await fetch(`${server.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    const location = started.headers.get('location')!;
    assert.equal((await fetch(`${server.url}${location}`, { method: 'PATCH', body: big.subarray(0, 800) })).status, 202);
    const over = await rawRequest(`${server.url}${location}`, { method: 'PATCH', headers: { 'transfer-encoding': 'chunked' }, body: big.subarray(800) });
    assert.equal(over.status, 413, over.body.toString());
    assert.equal(ociCode(over), 'SIZE_INVALID');
    const state = await fetch(`${server.url}${location}`);
    assert.equal(state.headers.get('range'), '0-799', 'the refused chunk left the session as it was');
    const overPut = await rawRequest(`${server.url}${location}?digest=${digestOfBytes(big)}`, { method: 'PUT', headers: { 'content-length': 201 }, body: big.subarray(800) });
    assert.equal(overPut.status, 413);
  } finally {
    await server.stop();
  }
});

test('9.f4 a 200 MB one-request push is streamed to disk, not held in memory', async () => {
  const server = await startEmbedded();
  try {
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff;
    const count = 200;
    const hash = createHash('sha256');
    for (let i = 0; i < count; i++) hash.update(chunk);
    const digest = `sha256:${hash.digest('hex')}` as Digest;
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/v2/big/app/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: { 'content-length': chunk.length * count }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      let sent = 0;
      const pump = (): void => {
        while (sent < count) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    assert.equal(status, 201);
    const grew = (peak - baseline) / (1024 * 1024);
    assert.ok(grew < 100, `rss grew by ${grew.toFixed(0)} MB while 200 MB were pushed`);
  } finally {
    await server.stop();
  }
});
