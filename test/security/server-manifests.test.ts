// Issue 9, item 12 (and the PUT half of item 4): the embedded registry validates before it
// stores. Hostile manifests are refused with an OCI error and leave nothing behind; the upload
// protocol's malformed requests are refused before they touch the session.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { ociCode, rawRequest, type RawAnswer } from '../helpers/raw-http.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const CONFIG = Buffer.from('{"architecture":"amd64","os":"linux"}');
const LAYER = Buffer.from('not really a layer, but bytes');

describe('9.12 the server validates manifests before storing them', () => {
  let server: EmbeddedHandle;
  let image: Record<string, unknown>;
  let imageBytes: Buffer;

  const put = (repo: string, reference: string, body: Buffer | string, mediaType = OCI_MANIFEST): Promise<RawAnswer> =>
    rawRequest(`${server.url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': mediaType, 'content-length': Buffer.byteLength(body) }, body });

  /** Refused with `code`, and nothing can be read back under the tag or the digest. */
  async function assertRefused(repo: string, body: Record<string, unknown> | string, code: string, mediaType = OCI_MANIFEST): Promise<void> {
    const bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const answer = await put(repo, 'bad', bytes, mediaType);
    assert.equal(ociCode(answer), code, `expected ${code} for ${bytes.toString().slice(0, 160)}, got ${answer.status} ${answer.body.toString().slice(0, 200)}`);
    assert.ok(answer.status >= 400 && answer.status < 500, `a 4xx, got ${answer.status}`);
    assert.equal((await rawRequest(`${server.url}/v2/${repo}/manifests/${sha(bytes)}`)).status, 404, 'not stored under its digest');
    assert.equal((await rawRequest(`${server.url}/v2/${repo}/manifests/bad`)).status, 404, 'not stored under the tag');
  }

  before(async () => {
    server = await startEmbedded();
    for (const repo of ['v/app', 'v/idx']) {
      for (const blob of [CONFIG, LAYER]) {
        const answer = await rawRequest(`${server.url}/v2/${repo}/blobs/uploads/?digest=${sha(blob)}`, { method: 'POST', body: blob, headers: { 'content-length': blob.length } });
        assert.equal(answer.status, 201);
      }
    }
    image = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(CONFIG), size: CONFIG.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(LAYER), size: LAYER.length }],
    };
    imageBytes = Buffer.from(JSON.stringify(image));
    assert.equal((await put('v/idx', sha(imageBytes), imageBytes)).status, 201, 'the valid manifest is accepted');
  });
  after(() => server.stop());

  test('9.12 manifests received slowly by many connections at once hold at most 64 MiB: past it a PUT gets 429, and the room comes back when they end', async () => {
    const { request } = await import('node:http');
    const target = new URL(`${server.url}/v2/v/idx/manifests/slow`);
    const piece = Buffer.alloc(3 << 20, 0x20); // 3 MiB of a manifest that never finishes
    const open = Array.from({ length: 30 }, () => {
      const req = request({ host: target.hostname, port: target.port, path: target.pathname, method: 'PUT', headers: { 'content-type': OCI_MANIFEST, 'content-length': 4 << 20 } });
      const answered = new Promise<number>((resolve) => {
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', () => resolve(-1));
      });
      req.write(piece);
      return { req, answered };
    });
    // 90 MiB offered, 64 held at most: at least 9 are answered 429 while the others wait for their last MiB.
    const answers: number[] = [];
    for (const o of open) void o.answered.then((status) => answers.push(status));
    for (let waited = 0; answers.length < 9 && waited < 20_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(answers.length >= 9 && answers.every((status) => status === 429), `statuses ${answers.join(',')}`);
    for (const { req } of open) req.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await put('v/idx', 'after-slow', imageBytes)).status, 201, 'the room was given back');
  });

  test('9.12 a subject digest holding CR, LF or NUL is MANIFEST_INVALID and not stored', async () => {
    for (const bad of ['sha256:abc\r\nx-injected: 1', `${sha('x')}\n`, `${sha('x')}\u0000`, 'sha256:\u2028']) {
      await assertRefused('v/app', { ...image, subject: { mediaType: OCI_MANIFEST, digest: bad, size: 2 } }, 'MANIFEST_INVALID');
    }
  });

  test('9.12 malformed descriptors and sizes anywhere in a manifest are MANIFEST_INVALID (also item 4)', async () => {
    const config = image.config as Record<string, unknown>;
    const layer = (image.layers as Record<string, unknown>[])[0]!;
    const badSizes: unknown[] = ['<img src=x onerror=alert(1)>', '29', -1, 1.5, 2 ** 53, 1e300, null, true, [1], {}];
    const cases: Record<string, unknown>[] = [
      ...badSizes.map((size) => ({ ...image, config: { ...config, size } })),
      ...badSizes.map((size) => ({ ...image, layers: [{ ...layer, size }] })),
      ...badSizes.map((size) => ({ ...image, subject: { mediaType: OCI_MANIFEST, digest: sha(imageBytes), size } })),
      { ...image, config: { ...config, digest: 'nope' } },
      { ...image, config: { ...config, mediaType: 5 } },
      { ...image, config: { digest: config.digest, size: config.size } },
      { ...image, layers: [{ ...layer, mediaType: ['x'] }] },
      { ...image, layers: [{ ...layer, mediaType: 'text/html\r\nx: 1' }] },
      { ...image, layers: [null] },
      { ...image, layers: ['sha256:abc'] },
      { ...image, layers: [{ ...layer, urls: 'http://x' }] },
      { ...image, layers: [{ ...layer, annotations: { a: 1 } }] },
      { ...image, annotations: { 'org.opencontainers.image.title': { html: '<b>' } } },
      { ...image, annotations: ['a'] },
      { ...image, config: 'sha256:abc' },
      { ...image, layers: {} },
      { ...image, subject: 'sha256:abc' },
      { ...image, subject: { mediaType: OCI_MANIFEST, digest: 'sha256:zz', size: 1 } },
      { ...image, artifactType: 7 },
      { ...image, schemaVersion: 1 },
      { ...image, schemaVersion: '2' },
      Object.fromEntries(Object.entries(image).filter(([k]) => k !== 'schemaVersion')),
    ];
    for (const body of cases) await assertRefused('v/app', body, 'MANIFEST_INVALID');
    const entry = { mediaType: OCI_MANIFEST, digest: sha(imageBytes), size: imageBytes.length, platform: { architecture: 'amd64', os: 'linux' } };
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [entry] };
    const badIndexes: Record<string, unknown>[] = [
      ...badSizes.map((size) => ({ ...index, manifests: [{ ...entry, size }] })),
      { ...index, manifests: [{ ...entry, digest: 'sha256:nothex' }] },
      { ...index, manifests: [{ ...entry, mediaType: 1 }] },
      { ...index, manifests: [{ ...entry, platform: 'linux/amd64' }] },
      { ...index, manifests: [{ ...entry, platform: { architecture: 1, os: 'linux' } }] },
      { ...index, manifests: [{ ...entry, platform: { architecture: 'amd64', os: 'linux', 'os.features': 'x' } }] },
      { ...index, manifests: [null] },
      { ...index, manifests: {} },
      { ...index, schemaVersion: 1 },
      { mediaType: OCI_INDEX, manifests: [entry] },
    ];
    for (const body of badIndexes) await assertRefused('v/idx', body, 'MANIFEST_INVALID', OCI_INDEX);
    // The valid index is still accepted (the table above is not refusing everything).
    const ok = Buffer.from(JSON.stringify(index));
    assert.equal((await put('v/idx', 'good', ok, OCI_INDEX)).status, 201);
    assert.deepEqual((await rawRequest(`${server.url}/v2/v/idx/manifests/good`)).body, ok);
  });

  test('9.12 an index entry pointing at a manifest the repository does not hold is MANIFEST_BLOB_UNKNOWN', async () => {
    const missing = sha('no such manifest');
    for (const mediaType of [undefined, 'application/vnd.example.thing+json', OCI_MANIFEST]) {
      const manifests = [{ ...(mediaType ? { mediaType } : { mediaType: OCI_MANIFEST }), digest: missing, size: 10 }];
      if (mediaType === undefined) delete (manifests[0] as { mediaType?: string }).mediaType;
      const body = { schemaVersion: 2, mediaType: OCI_INDEX, manifests };
      const code = mediaType === undefined ? 'MANIFEST_INVALID' : 'MANIFEST_BLOB_UNKNOWN';
      await assertRefused('v/idx', body, code, OCI_INDEX);
    }
    // Held by another repository is not held by this one.
    await assertRefused('v/app', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha(imageBytes), size: imageBytes.length }] }, 'MANIFEST_BLOB_UNKNOWN', OCI_INDEX);
  });

  test('9.12 a manifest over 4 MiB is answered 413 with an OCI error body', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    big.write('{"schemaVersion":2,');
    big.write('}', big.length - 1);
    for (const framing of ['content-length', 'chunked'] as const) {
      const headers: Record<string, string | number> = { 'content-type': OCI_MANIFEST, ...(framing === 'content-length' ? { 'content-length': big.length } : { 'transfer-encoding': 'chunked' }) };
      const answer = await rawRequest(`${server.url}/v2/v/app/manifests/huge`, { method: 'PUT', headers, body: [big.subarray(0, 1 << 20), big.subarray(1 << 20)] }).catch((error: Error) => error);
      assert.ok(!(answer instanceof Error), `${framing}: an answer, not a dropped connection (${answer instanceof Error ? answer.message : ''})`);
      assert.equal(answer.status, 413, framing);
      assert.equal(ociCode(answer), 'SIZE_INVALID', framing);
      assert.equal((await rawRequest(`${server.url}/v2/v/app/manifests/huge`)).status, 404);
    }
    // A huge declared length is refused without waiting for the body.
    const declared = await rawRequest(`${server.url}/v2/v/app/manifests/huge`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST, 'content-length': 10 * 1024 * 1024 * 1024 }, body: ['{', 2000] }).catch((e: Error) => e);
    assert.ok(!(declared instanceof Error), 'answered');
    assert.equal(declared.status, 413);
  });

  test('9.12 PATCH with a backwards or mismatched Content-Range is 416 and leaves the session as it was', async () => {
    const start = await rawRequest(`${server.url}/v2/v/app/blobs/uploads/`, { method: 'POST' });
    const location = new URL(String(start.headers.location), server.url).toString();
    assert.equal((await rawRequest(location, { method: 'PATCH', headers: { 'content-range': '0-3', 'content-length': 4 }, body: 'abcd' })).status, 202);
    for (const [range, body] of [
      ['4-2', 'xyz'],
      ['4-6', 'toolong'],
      ['4-9', 'ab'],
      ['4-', 'ab'],
      ['bytes=4-5', 'ab'],
      [`4-${'9'.repeat(30)}`, 'ab'],
    ] as const) {
      const answer = await rawRequest(location, { method: 'PATCH', headers: { 'content-range': range, 'content-length': body.length }, body });
      assert.equal(answer.status, 416, `Content-Range ${range}`);
      assert.equal(answer.headers.range, '0-3', `Content-Range ${range}: the session stays at 4 bytes`);
      assert.equal((await rawRequest(location)).headers.range, '0-3');
    }
    assert.equal((await rawRequest(`${location}?digest=${sha('abcd')}`, { method: 'PUT' })).status, 201);
  });

  test('9.12 a PUT without ?digest is refused before its body touches the session', async () => {
    const start = await rawRequest(`${server.url}/v2/v/app/blobs/uploads/`, { method: 'POST' });
    const location = new URL(String(start.headers.location), server.url).toString();
    assert.equal((await rawRequest(location, { method: 'PATCH', body: 'abcd', headers: { 'content-length': 4 } })).status, 202);
    for (const query of ['', '?digest=', '?digest=sha256:nothex', '?digest=md5:abc']) {
      const answer = await rawRequest(`${location}${query}`, { method: 'PUT', body: 'efgh', headers: { 'content-length': 4 } });
      assert.equal(answer.status, 400, `PUT ${query}`);
      assert.equal(ociCode(answer), 'DIGEST_INVALID');
      const status = await rawRequest(location);
      assert.equal(status.status, 204, `PUT ${query}: the session survives`);
      assert.equal(status.headers.range, '0-3', `PUT ${query}: nothing was appended`);
    }
    assert.equal((await rawRequest(`${location}?digest=${sha('abcdefgh')}`, { method: 'PUT', body: 'efgh', headers: { 'content-length': 4 } })).status, 201);
  });
});
