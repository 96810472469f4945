// polyarch's registry against clients we did not write (skopeo, docker manifest), the spec's
// MUSTs that distribution 2.8 misses, access control, and crash safety of the serve process.
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import { copy } from '../../src/ops/copy.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { randomIndex, seededBytes, type GeneratedIndex } from '../helpers/images.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { runCli } from '../helpers/run-cli.js';
import { startServeProcess } from '../helpers/serve-process.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);
const FOUR = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
  { os: 'linux', architecture: 'riscv64' },
];
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('embedded registry with real clients', () => {
  let server: EmbeddedHandle;
  let dir: { path: string; remove: () => Promise<void> };
  let made: GeneratedIndex;

  before(async () => {
    server = await startEmbedded();
    dir = await tempDir();
    made = await randomIndex(await openLayout(join(dir.path, 'src'), { create: true }), FOUR, { tag: '1', bytes: 4096, seed: 'serve' });
  });
  after(async () => {
    await server?.stop();
    await dir?.remove();
  });

  test('skopeo copy --all in and out, byte-identical; polyarch inspect shows four platforms', async () => {
    await exec('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${join(dir.path, 'src')}:1`, `docker://${server.host}/demo/app:1`]);
    const raw = (await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${server.host}/demo/app:1`])).stdout;
    assert.equal(raw, made.index.bytes.toString());
    await exec('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${server.host}/demo/app:1`, `oci:${join(dir.path, 'out')}:1`]);
    assert.equal((await exec('skopeo', ['inspect', '--raw', `oci:${join(dir.path, 'out')}:1`])).stdout, raw);
    const shown = await runCli(['inspect', `${server.host}/demo/app:1`]);
    assert.equal(shown.code, 0, shown.stderr);
    for (const p of ['linux/amd64', 'linux/arm64', 'linux/arm/v7', 'linux/riscv64']) assert.match(shown.stdout, new RegExp(`^${p}\\s+sha256:`, 'm'));
  });

  test('docker manifest create/push/inspect work against it', async () => {
    const env = { ...process.env, DOCKER_CONFIG: join(dir.path, 'docker') };
    await copy({ source: `oci:${join(dir.path, 'src')}:1`, destination: `${server.host}/demo/x86:1`, platforms: [FOUR[0]!] });
    await copy({ source: `oci:${join(dir.path, 'src')}:1`, destination: `${server.host}/demo/arm:1`, platforms: [FOUR[1]!] });
    const amd64 = made.images[0]!.manifest.digest;
    // A one-platform copy keeps an index; docker wants images, so name them by digest.
    await exec('docker', ['manifest', 'create', '--insecure', `${server.host}/demo/list:1`, `${server.host}/demo/x86@${amd64}`, `${server.host}/demo/arm@${made.images[1]!.manifest.digest}`], { env });
    await exec('docker', ['manifest', 'push', '--insecure', `${server.host}/demo/list:1`], { env });
    const { stdout } = await exec('docker', ['manifest', 'inspect', '--insecure', `${server.host}/demo/list:1`], { env });
    assert.deepEqual((JSON.parse(stdout) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest).sort(), [amd64, made.images[1]!.manifest.digest].sort());
  });

  test("the spec's MUSTs: lexical tags with n/last, 416 keeps the session, bad digests are 400", async () => {
    for (const tag of ['b', 'a', 'c', '10', '9']) await copy({ source: `oci:${join(dir.path, 'src')}:1`, destination: `${server.host}/demo/tags:${tag}` });
    const first = await fetch(`${server.url}/v2/demo/tags/tags/list?n=2`);
    assert.deepEqual(((await first.json()) as { tags: string[] }).tags, ['10', '9']);
    assert.match(first.headers.get('link') ?? '', /last=9>; rel="next"/);
    const rest = await fetch(`${server.url}/v2/demo/tags/tags/list?n=10&last=9`);
    assert.deepEqual(((await rest.json()) as { tags: string[] }).tags, ['a', 'b', 'c']);

    const bytes = seededBytes('chunks', 3000);
    const start = await fetch(`${server.url}/v2/demo/chunks/blobs/uploads/`, { method: 'POST' });
    const location = new URL(start.headers.get('location')!, server.url).toString();
    const patch = (from: number, to: number) =>
      fetch(location, { method: 'PATCH', body: bytes.subarray(from, to + 1), headers: { 'content-range': `${from}-${to}`, 'content-type': 'application/octet-stream' } });
    assert.equal((await patch(0, 999)).status, 202);
    const skipped = await patch(2000, 2999);
    assert.equal(skipped.status, 416);
    assert.equal(skipped.headers.get('range'), '0-999');
    assert.equal((await fetch(location)).headers.get('range'), '0-999', 'status answers from the same Location');
    assert.equal((await patch(1000, 2999)).status, 202);
    const done = await fetch(`${location}?digest=${sha(bytes)}`, { method: 'PUT' });
    assert.equal(done.status, 201);
    assert.equal((await fetch(`${server.url}/v2/demo/chunks/blobs/sha256:nothex`)).status, 400);
    assert.equal((await fetch(`${server.url}/v2/demo/chunks/manifests/sha256:zz`)).status, 400);
  });

  test('concurrent pushes of one blob all succeed and store one copy', async () => {
    const bytes = seededBytes('same-blob', 1 << 20);
    const digest = sha(bytes);
    const statuses = await Promise.all(
      Array.from({ length: 6 }, (_, i) => fetch(`${server.url}/v2/demo/same${i % 2}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes }).then((r) => r.status)),
    );
    assert.deepEqual(statuses, [201, 201, 201, 201, 201, 201]);
    const copies = (await readdir(join(server.root, 'blobs', 'sha256'))).filter((n) => n === digest.slice(7) || n.includes('tmp'));
    assert.deepEqual(copies, [digest.slice(7)]);
    for (const repo of ['same0', 'same1']) assert.equal((await fetch(`${server.url}/v2/demo/${repo}/blobs/${digest}`, { method: 'HEAD' })).status, 200);
  });

  test('an upload whose digest does not match is DIGEST_INVALID and nothing is stored', async () => {
    const bytes = Buffer.from('real content');
    const wrong = sha(Buffer.from('other content'));
    const before = await readdir(join(server.root, 'blobs', 'sha256'));
    const res = await fetch(`${server.url}/v2/demo/bad/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code, 'DIGEST_INVALID');
    assert.deepEqual(await readdir(join(server.root, 'blobs', 'sha256')), before);
    const unknownChild = await fetch(`${server.url}/v2/demo/bad/manifests/x`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' },
      body: JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: wrong, size: 1 }] }),
    });
    assert.equal(((await unknownChild.json()) as { errors: { code: string }[] }).errors[0]!.code, 'MANIFEST_BLOB_UNKNOWN');
  });
});

describe('onRequest', () => {
  test('is called as a request arrives, before its body, and what it returns once the answer is over, also for a client gone mid-body', async () => {
    let open = 0;
    let calls = 0;
    const server = await startEmbedded({
      onRequest: () => {
        calls++;
        open++;
        return () => open--;
      },
    });
    try {
      const bytes = seededBytes('hooked', 256 << 10);
      const started = await fetch(`${server.url}/v2/demo/hook/blobs/uploads/`, { method: 'POST' });
      assert.equal(started.status, 202);
      assert.equal(open, 0);
      const url = new URL(started.headers.get('location')!, server.url);
      url.searchParams.set('digest', sha(bytes));
      // A PUT whose body comes in two halves: between them the request is open.
      const answered = new Promise<number>((resolve, reject) => {
        const put = request(url, { method: 'PUT', headers: { 'content-length': bytes.length } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        put.on('error', reject);
        put.write(bytes.subarray(0, bytes.length / 2));
        setTimeout(() => {
          assert.equal(open, 1, 'open while its body is still coming');
          put.end(bytes.subarray(bytes.length / 2));
        }, 200);
      });
      assert.equal(await answered, 201);
      for (let waited = 0; open > 0 && waited < 2000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      assert.equal(open, 0);
      // A client that goes away mid-body: its request ends all the same.
      const cut = await fetch(`${server.url}/v2/demo/hook/blobs/uploads/`, { method: 'POST' });
      const gone = request(new URL(cut.headers.get('location')!, server.url), { method: 'PATCH', headers: { 'content-length': bytes.length } });
      gone.on('error', () => undefined);
      gone.write(bytes.subarray(0, 1024));
      for (let waited = 0; open === 0 && waited < 2000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      assert.equal(open, 1);
      gone.destroy();
      for (let waited = 0; open > 0 && waited < 2000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      assert.equal(open, 0);
      assert.equal(calls, 4);
    } finally {
      await server.stop();
    }
  });
});

describe('access control', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(() => dir.remove());

  test('wrong password → 401 with an OCI error body; --read-only push → DENIED', async () => {
    const htpasswd = join(dir.path, 'htpasswd');
    await writeFile(htpasswd, `alice:${bcrypt.hashSync('right', 10)}\n`);
    const secured = await startEmbedded({ root: join(dir.path, 'secured'), htpasswd });
    try {
      const res = await fetch(`${secured.url}/v2/`, { headers: { authorization: `Basic ${Buffer.from('alice:wrong').toString('base64')}` } });
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic /);
      assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code, 'UNAUTHORIZED');
      const ok = await fetch(`${secured.url}/v2/`, { headers: { authorization: `Basic ${Buffer.from('alice:right').toString('base64')}` } });
      assert.equal(ok.status, 200);
    } finally {
      await secured.stop();
    }
    const readOnly = await startEmbedded({ root: join(dir.path, 'ro'), readOnly: true });
    try {
      const res = await fetch(`${readOnly.url}/v2/demo/app/blobs/uploads/`, { method: 'POST' });
      assert.equal(res.status, 403);
      assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code, 'DENIED');
    } finally {
      await readOnly.stop();
    }
  });
});

describe('crash safety of `polyarch serve`', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(() => dir.remove());

  const kill = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      child.removeAllListeners('exit');
      child.on('exit', () => resolve());
      child.kill('SIGKILL');
    });

  test('SIGKILL during a chunked upload and during a manifest PUT leaves only verifiable content', async () => {
    const root = join(dir.path, 'root');
    let { child, host } = await startServeProcess(root);
    const big = seededBytes('crash', 8 * 1024 * 1024);
    const start = await fetch(`http://${host}/v2/crash/app/blobs/uploads/`, { method: 'POST' });
    const location = new URL(start.headers.get('location')!, `http://${host}`).toString();
    assert.equal((await fetch(location, { method: 'PATCH', body: big.subarray(0, 4 << 20), headers: { 'content-range': `0-${(4 << 20) - 1}` } })).status, 202);
    // Killed mid-request: the second chunk is on the wire.
    const pending = fetch(location, { method: 'PATCH', body: big.subarray(4 << 20), headers: { 'content-range': `${4 << 20}-${big.length - 1}` } }).catch(() => undefined);
    await kill(child);
    await pending;
    ({ child, host } = await startServeProcess(root));
    // The upload session died with the process; the blob is not visible.
    assert.equal((await fetch(`http://${host}/v2/crash/app/blobs/${sha(big)}`, { method: 'HEAD' })).status, 404);
    const layout = await openLayout(join(dir.path, 'src'), { create: true });
    const made = await randomIndex(layout, FOUR.slice(0, 2), { tag: '1', bytes: 512 * 1024, seed: 'crash-index' });
    const pushing = copy({ source: `oci:${join(dir.path, 'src')}:1`, destination: `${host}/crash/app:1` }).catch(() => undefined);
    setTimeout(() => void kill(child), 30);
    await pushing;
    ({ child, host } = await startServeProcess(root));
    const result = await copy({ source: `oci:${join(dir.path, 'src')}:1`, destination: `${host}/crash/app:1` });
    assert.equal(result.descriptor.digest, made.index.digest);
    // Every blob present verifies; every tag points at a manifest that is there.
    for (const name of await readdir(join(root, 'blobs', 'sha256'))) {
      assert.match(name, /^[a-f0-9]{64}$/, `no temp or partial file in the blob store: ${name}`);
      assert.equal(sha(await readFile(join(root, 'blobs', 'sha256', name))), `sha256:${name}`);
    }
    const shown = await runCli(['inspect', '-q', `${host}/crash/app:1`]);
    assert.equal(shown.stdout.trim(), made.index.digest);
    await kill(child);
  });
});
