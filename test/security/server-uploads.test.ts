// Issue 9, items 3, 10 and 11: the embedded registry's blob store and upload sessions under
// attack — racing chunks, poisoned or broken files in the store, abandoned sessions, and fs
// errors that must never take the process down.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { seededBytes } from '../helpers/images.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { ociCode, rawRequest, type RawAnswer } from '../helpers/raw-http.js';
import { startServeProcess } from '../helpers/serve-process.js';
import { tempDir } from '../helpers/temp-dir.js';
import type { RegistryServerOptions } from '../../src/server/server.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function startUpload(base: string, repo: string): Promise<{ answer: RawAnswer; location: string }> {
  const answer = await rawRequest(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const location = answer.headers.location;
  return { answer, location: typeof location === 'string' ? new URL(location, base).toString() : '' };
}

async function pushWhole(base: string, repo: string, bytes: Buffer): Promise<RawAnswer> {
  return rawRequest(`${base}/v2/${repo}/blobs/uploads/?digest=${sha(bytes)}`, { method: 'POST', body: bytes, headers: { 'content-length': bytes.length } });
}

/** What a client gets for a blob: never a complete 200 whose bytes are not `expected`. */
function assertNeverServesWrongBytes(answer: RawAnswer, expected: Buffer, what: string): void {
  if (answer.status === 200 && !answer.aborted) assert.equal(sha(answer.body), sha(expected), `${what}: a completed 200 must carry the right bytes`);
}

/** A connection cut before any answer: an acceptable way to refuse serving bad bytes mid-stream. */
const cut = (): RawAnswer => ({ status: 0, headers: {}, body: Buffer.alloc(0), aborted: true });

/** Every file in blobs/sha256 holds the bytes its name says. */
async function assertStoreHonest(root: string): Promise<void> {
  for (const name of await readdir(join(root, 'blobs', 'sha256'))) {
    if (!/^[a-f0-9]{64}$/.test(name)) continue;
    assert.equal(sha(await readFile(join(root, 'blobs', 'sha256', name))), `sha256:${name}`, `blob file ${name} holds other bytes`);
  }
}

describe('9.3 blob poisoning', () => {
  let server: EmbeddedHandle;
  before(async () => (server = await startEmbedded()));
  after(() => server.stop());

  test('blob ranges as distribution answers them: bytes=S-E, S- and the last N bytes (-N); a range naming nothing is the whole blob', async () => {
    const bytes = seededBytes('ranges', 1000);
    assert.equal((await pushWhole(server.url, 'ranges/app', bytes)).status, 201);
    const url = `${server.url}/v2/ranges/app/blobs/${sha(bytes)}`;
    for (const [range, status, expected] of [
      ['bytes=10-19', 206, bytes.subarray(10, 20)],
      ['bytes=990-', 206, bytes.subarray(990)],
      ['bytes=-10', 206, bytes.subarray(990)],
      ['bytes=-5000', 206, bytes],
      ['bytes=-', 200, bytes],
      ['bytes=2000-', 416, Buffer.alloc(0)],
      ['bytes=-0', 416, Buffer.alloc(0)],
    ] as const) {
      const answer = await rawRequest(url, { headers: { range } });
      assert.equal(answer.status, status, range);
      if (status !== 416) assert.deepEqual(answer.body, expected, range);
    }
  });

  test('9.3 two concurrent PATCHes to one upload session cannot poison a blob', async () => {
    for (const variant of ['content-range', 'streamed'] as const) {
      const a = seededBytes(`race-a-${variant}`, 256 * 1024);
      const b = seededBytes(`race-b-${variant}`, 64 * 1024);
      const { location } = await startUpload(server.url, `race/${variant}`);
      const rangeA = variant === 'content-range' ? { 'content-range': `0-${a.length - 1}` } : {};
      const rangeB = variant === 'content-range' ? { 'content-range': `0-${b.length - 1}` } : {};
      // A arrives in two halves with a pause; B lands whole in the middle of it.
      const slow = rawRequest(location, { method: 'PATCH', headers: { 'content-length': a.length, ...rangeA }, body: [a.subarray(0, 100_000), 1200, a.subarray(100_000)] });
      await new Promise((r) => setTimeout(r, 400));
      const racing = await rawRequest(location, { method: 'PATCH', headers: { 'content-length': b.length, ...rangeB }, body: b });
      const first = await slow;
      assert.equal(first.status, 202, `${variant}: the first PATCH completes`);
      // Whichever chunk the client now claims, a 201 means the stored bytes are exactly that.
      for (const claimed of [a, b]) {
        const put = await rawRequest(`${location}?digest=${sha(claimed)}`, { method: 'PUT' });
        if (put.status === 201) {
          const got = await rawRequest(`${server.url}/v2/race/${variant}/blobs/${sha(claimed)}`);
          assert.equal(got.status, 200);
          assert.equal(sha(got.body), sha(claimed), `${variant}: the blob served under ${sha(claimed)} holds other bytes`);
        }
      }
      await assertStoreHonest(server.root);
      assert.equal(racing.status, 416, `${variant}: a second PATCH while one is running is refused, got ${racing.status}`);
      assert.equal(ociCode(racing), 'BLOB_UPLOAD_INVALID');
      assert.equal(racing.headers.range, '0-0', 'the refusal says where the session stands');
    }
    // A PUT racing a running PATCH on the same session is refused too.
    const c = seededBytes('race-c', 128 * 1024);
    const { location } = await startUpload(server.url, 'race/put');
    const slow = rawRequest(location, { method: 'PATCH', headers: { 'content-length': c.length }, body: [c.subarray(0, 1000), 1200, c.subarray(1000)] });
    await new Promise((r) => setTimeout(r, 400));
    const put = await rawRequest(`${location}?digest=${sha(c.subarray(0, 1000))}`, { method: 'PUT' });
    assert.equal(put.status, 416, 'a PUT while a PATCH is running is refused');
    assert.equal((await slow).status, 202);
    assert.equal((await rawRequest(`${location}?digest=${sha(c)}`, { method: 'PUT' })).status, 201);
    await assertStoreHonest(server.root);
  });

  test('9.3 a corrupt or truncated file already in the store is never trusted because of its name', async () => {
    for (const damage of ['garbage', 'truncated', 'planted'] as const) {
      const real = seededBytes(`poison-${damage}`, 200 * 1024);
      const digest = sha(real);
      const file = join(server.root, 'blobs', 'sha256', digest.slice(7));
      if (damage === 'planted') {
        // Left from before (a poisoned push, a crash): the name exists, no repository links it.
        await writeFile(file, seededBytes('other bytes', 1000));
      } else {
        assert.equal((await pushWhole(server.url, `poison/${damage}-a`, real)).status, 201);
        if (damage === 'garbage') await writeFile(file, seededBytes('same length, other bytes', real.length));
        else await truncate(file, 1000);
        const head = await rawRequest(`${server.url}/v2/poison/${damage}-a/blobs/${digest}`, { method: 'HEAD' });
        assert.notEqual(head.status, 200, `${damage}: HEAD must not vouch for a blob whose bytes do not match`);
        assertNeverServesWrongBytes(await rawRequest(`${server.url}/v2/poison/${damage}-a/blobs/${digest}`).catch(cut), real, `${damage} GET`);
        assertNeverServesWrongBytes(await rawRequest(`${server.url}/v2/poison/${damage}-a/blobs/${digest}`, { headers: { range: 'bytes=0-99' } }).catch(cut), real.subarray(0, 100), `${damage} range GET`);
        // Mounting the damaged blob elsewhere must not claim success without bytes.
        const mount = await rawRequest(`${server.url}/v2/poison/${damage}-m/blobs/uploads/?mount=${digest}&from=poison/${damage}-a`, { method: 'POST' });
        assert.notEqual(mount.status, 201, `${damage}: mount of a damaged blob`);
      }
      // An honest push — whole, then chunked — stores the real bytes.
      assert.equal((await pushWhole(server.url, `poison/${damage}-b`, real)).status, 201);
      const got = await rawRequest(`${server.url}/v2/poison/${damage}-b/blobs/${digest}`);
      assert.equal(got.status, 200);
      assert.equal(sha(got.body), digest, `${damage}: after an honest push the real bytes are served`);
      if (damage !== 'planted') assert.equal(sha((await rawRequest(`${server.url}/v2/poison/${damage}-a/blobs/${digest}`)).body), digest, `${damage}: the first repository is healed too`);
      await writeFile(file, seededBytes('other bytes again', 5000));
      const { location } = await startUpload(server.url, `poison/${damage}-c`);
      assert.equal((await rawRequest(location, { method: 'PATCH', body: real, headers: { 'content-length': real.length } })).status, 202);
      assert.equal((await rawRequest(`${location}?digest=${digest}`, { method: 'PUT' })).status, 201);
      assert.equal(sha((await rawRequest(`${server.url}/v2/poison/${damage}-c/blobs/${digest}`)).body), digest, `${damage}: chunked push heals too`);
    }
    await assertStoreHonest(server.root);
  });
});

describe('11. fast paths that skip a second hash still never vouch for changed bytes', () => {
  let server: EmbeddedHandle;
  before(async () => (server = await startEmbedded()));
  after(() => server.stop());

  test('11.1 a blob served once (so known good) and then changed in place on disk is cut off, never served whole', async () => {
    for (const keepTimes of [false, true]) {
      const real = seededBytes(`fast-get-${keepTimes}`, 3 * 1024 * 1024 + 17);
      const digest = sha(real);
      const repo = `fast/get-${keepTimes}`;
      assert.equal((await pushWhole(server.url, repo, real)).status, 201);
      const first = await rawRequest(`${server.url}/v2/${repo}/blobs/${digest}`);
      assert.equal(first.status, 200);
      assert.equal(sha(first.body), digest, 'the first GET serves the pushed bytes');
      // Same file, same size, same inode: one byte near the end changes (mtime put back when keepTimes).
      const file = join(server.root, 'blobs', 'sha256', digest.slice(7));
      const before = await stat(file);
      const handle = await open(file, 'r+');
      await handle.write(Buffer.from([real[real.length - 5]! ^ 0xff]), 0, 1, real.length - 5);
      await handle.close();
      if (keepTimes) await utimes(file, before.atime, before.mtime);
      const again = await rawRequest(`${server.url}/v2/${repo}/blobs/${digest}`).catch(cut);
      assert.ok(again.status !== 200 || again.aborted, `keepTimes=${keepTimes}: a changed blob must not be served as a complete 200`);
      assertNeverServesWrongBytes(again, real, `keepTimes=${keepTimes} GET`);
      const head = await rawRequest(`${server.url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
      assert.notEqual(head.status, 200, 'HEAD no longer vouches for it');
      // An honest push heals it, and the healed blob is served whole again.
      assert.equal((await pushWhole(server.url, repo, real)).status, 201);
      assert.equal(sha((await rawRequest(`${server.url}/v2/${repo}/blobs/${digest}`)).body), digest);
    }
  });

  test('11.2 an upload file changed on disk between its last PATCH and the PUT is hashed again and refused', async () => {
    const real = seededBytes('fast-put', 512 * 1024);
    const { location } = await startUpload(server.url, 'fast/put');
    assert.equal((await rawRequest(location, { method: 'PATCH', body: real, headers: { 'content-length': real.length } })).status, 202);
    const id = new URL(location).pathname.split('/').pop()!;
    await writeFile(join(server.root, 'uploads', id), seededBytes('other bytes, same length', real.length));
    const put = await rawRequest(`${location}?digest=${sha(real)}`, { method: 'PUT' });
    assert.equal(put.status, 400);
    assert.equal(ociCode(put), 'DIGEST_INVALID');
    assert.equal((await rawRequest(`${server.url}/v2/fast/put/blobs/${sha(real)}`, { method: 'HEAD' })).status, 404, 'nothing is stored');
    await assertStoreHonest(server.root);
  });
});

describe('9.10 upload sessions expire and are capped', () => {
  let server: EmbeddedHandle;
  let capped: EmbeddedHandle;
  before(async () => {
    server = await startEmbedded({ uploadMaxAgeMs: 300 } as Partial<RegistryServerOptions>);
    capped = await startEmbedded({ maxUploadsPerRepository: 3 } as Partial<RegistryServerOptions>);
  });
  after(async () => {
    await server.stop();
    await capped.stop();
  });

  test('9.10 an abandoned session expires after the configured age and its file is removed', async () => {
    const { location } = await startUpload(server.url, 'expire/app');
    assert.equal((await rawRequest(location, { method: 'PATCH', body: seededBytes('abandoned', 100_000) })).status, 202);
    const id = location.split('/').pop()!;
    assert.ok((await readdir(join(server.root, 'uploads'))).includes(id));
    await new Promise((r) => setTimeout(r, 1200));
    const late = await rawRequest(location, { method: 'PATCH', body: 'more' });
    assert.equal(late.status, 404, 'an expired session is unknown');
    assert.equal(ociCode(late), 'BLOB_UPLOAD_UNKNOWN');
    assert.deepEqual((await readdir(join(server.root, 'uploads'))).filter((n) => n.includes(id)), [], 'the purge removed its file');
  });

  test('9.10 open sessions per repository are capped with 429 TOOMANYREQUESTS', async () => {
    const open = [];
    for (let i = 0; i < 3; i++) open.push(await startUpload(capped.url, 'cap/app'));
    for (const o of open) assert.equal(o.answer.status, 202);
    const over = await startUpload(capped.url, 'cap/app');
    assert.equal(over.answer.status, 429);
    assert.equal(ociCode(over.answer), 'TOOMANYREQUESTS');
    assert.equal((await startUpload(capped.url, 'cap/other')).answer.status, 202, 'another repository is not affected');
    // Monolithic pushes open no session and still work.
    assert.equal((await pushWhole(capped.url, 'cap/app', Buffer.from('small'))).status, 201);
    assert.equal((await rawRequest(open[0]!.location, { method: 'DELETE' })).status, 204);
    assert.equal((await startUpload(capped.url, 'cap/app')).answer.status, 202, 'a finished session frees its place');
  });

  test('9.10 the purge timer does not keep a process alive', async () => {
    const dir = await tempDir();
    try {
      const script = `import { createRegistryServer } from ${JSON.stringify(new URL('../../../dist/index.js', import.meta.url).href)};
        await createRegistryServer({ root: ${JSON.stringify(dir.path)}, uploadMaxAgeMs: 60000 });`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve(null);
        }, 5000);
        child.on('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      assert.equal(code, 0, 'the process ends by itself');
    } finally {
      await dir.remove();
    }
  });
});

describe('9.11 no request takes the server down', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(() => dir.remove());

  const kill = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.removeAllListeners('exit');
      child.on('exit', () => resolve());
      child.kill('SIGKILL');
    });

  test('9.11 a blob file that cannot be read answers 500 UNKNOWN and `serve` keeps running', async () => {
    const root = join(dir.path, 'proc');
    const { child, host } = await startServeProcess(root);
    let exited = false;
    child.on('exit', () => (exited = true));
    try {
      const base = `http://${host}`;
      const bytes = seededBytes('unreadable', 50_000);
      assert.equal((await pushWhole(base, 'broken/app', bytes)).status, 201);
      const file = join(root, 'blobs', 'sha256', sha(bytes).slice(7));
      await rm(file);
      await mkdir(file);
      for (const [what, options] of [
        ['GET', {}],
        ['range GET', { headers: { range: 'bytes=10-20' } }],
        ['HEAD', { method: 'HEAD' }],
      ] as const) {
        const answer = await rawRequest(`${base}/v2/broken/app/blobs/${sha(bytes)}`, options).catch((error: Error) => error);
        assert.ok(!(answer instanceof Error), `${what}: the server answered (${answer instanceof Error ? answer.message : ''})`);
        assert.equal(answer.status, 500, `${what}: status`);
        if (what !== 'HEAD') assert.equal(ociCode(answer), 'UNKNOWN', `${what}: code`);
        assert.doesNotMatch(answer.body.toString(), new RegExp(root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), `${what}: no server path in the answer`);
      }
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(exited, false, 'the serve process is still alive');
      assert.equal((await rawRequest(`${base}/v2/`)).status, 200);
    } finally {
      await kill(child);
    }
  });

  test('9.11 fs errors on every route answer 500 UNKNOWN in process, and the server keeps serving', async () => {
    const server = await startEmbedded({ root: join(dir.path, 'inproc') });
    try {
      // A manifest whose blob file became a directory.
      const config = Buffer.from('{}');
      assert.equal((await pushWhole(server.url, 'fs/app', config)).status, 201);
      const manifest = Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers: [] }),
      );
      assert.equal((await rawRequest(`${server.url}/v2/fs/app/manifests/1`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest })).status, 201);
      const manifestFile = join(server.root, 'blobs', 'sha256', sha(manifest).slice(7));
      await rm(manifestFile);
      await mkdir(manifestFile);
      const getManifest = await rawRequest(`${server.url}/v2/fs/app/manifests/1`);
      assert.equal(getManifest.status, 500);
      assert.equal(ociCode(getManifest), 'UNKNOWN');
      // An upload whose file became a directory.
      const { location } = await startUpload(server.url, 'fs/app');
      const id = location.split('/').pop()!;
      await rm(join(server.root, 'uploads', id));
      await mkdir(join(server.root, 'uploads', id));
      const patch = await rawRequest(location, { method: 'PATCH', body: 'abc' });
      assert.equal(patch.status, 500);
      assert.equal(ociCode(patch), 'UNKNOWN');
      // The uploads folder itself gone.
      await rm(join(server.root, 'uploads'), { recursive: true });
      await writeFile(join(server.root, 'uploads'), 'not a folder');
      const start = await startUpload(server.url, 'fs/app');
      assert.equal(start.answer.status, 500);
      assert.equal(ociCode(start.answer), 'UNKNOWN');
      const whole = await pushWhole(server.url, 'fs/app', Buffer.from('whole'));
      assert.equal(whole.status, 500);
      assert.equal(ociCode(whole), 'UNKNOWN');
      assert.equal((await rawRequest(`${server.url}/v2/`)).status, 200);
    } finally {
      await server.stop();
    }
  });
});
