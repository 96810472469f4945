// What a copy leaves behind when it is killed or fed wrong bytes: a layout whose index.json names
// only complete, verified blobs (a SIGKILL mid-copy loses nothing already named), and a registry
// or layout that never names a blob whose bytes did not hash, however large it is (uploads and
// writes, streamed or piece by piece, carry no chunk past the verifier). And what it reads of a
// layout whose blob names are links or FIFOs: nothing.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { copy } from '../../src/ops/copy.js';
import { createRegistryClient } from '../../src/registry/client.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { isTempName } from '../../src/internal/temp-path.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { startEmbedded } from '../helpers/embedded.js';
import { randomImage, randomIndex, THREE_PLATFORMS, type GeneratedImage, type GeneratedIndex } from '../helpers/images.js';
import { startProxy, type ProxyHandle } from '../helpers/proxy.js';
import { CLI_PATH, runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

let source: DistributionHandle;
let target: DistributionHandle;
let proxy: ProxyHandle;
let made: GeneratedIndex;
let big: GeneratedImage;
let dir: { path: string; remove: () => Promise<void> };

before(async () => {
  [source, target] = await Promise.all([startDistribution(), startDistribution()]);
  const client = createRegistryClient(source.host);
  // 3 platforms × 2 layers of ~2 MB: the copy is still moving blobs when it is killed.
  made = await randomIndex(client.repository('app') as never, THREE_PLATFORMS, { tag: 'v1', layers: 2, bytes: 2_000_000, seed: 'integrity' });
  // One ~20 MB layer: several upload chunks of 4 MiB, so a bad byte sits mid-upload.
  big = await randomImage(client.repository('big') as never, { platform: THREE_PLATFORMS[0]!, layers: 1, bytes: 20_000_000, seed: 'integrity-big', tag: 'v1' });
  await client.close();
  proxy = await startProxy(source.host);
  dir = await tempDir('polyarch-integrity-');
});

after(async () => {
  await proxy?.stop();
  await Promise.all([source?.stop(), target?.stop()]);
  await dir?.remove();
});

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** Final (non-temp) blob files of a layout. */
async function blobFiles(layout: string): Promise<string[]> {
  return (await readdir(join(layout, 'blobs', 'sha256')).catch(() => [] as string[])).filter((n) => !isTempName(n)).sort();
}

/**
 * Every blob under its final name hashes to that name, and everything index.json reaches
 * (manifests, configs, layers) is there. Returns the digests index.json reaches.
 */
async function assertLayoutValid(layout: string): Promise<Set<string>> {
  for (const name of await blobFiles(layout)) {
    assert.equal(await sha256Of(join(layout, 'blobs', 'sha256', name)), `sha256:${name}`, `blob ${name} holds other bytes than its name says`);
  }
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; mediaType: string }[] };
  const reached = new Set<string>();
  const queue = [...index.manifests];
  for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
    if (reached.has(d.digest)) continue;
    reached.add(d.digest);
    const path = join(layout, 'blobs', 'sha256', d.digest.slice('sha256:'.length));
    assert.equal(await sha256Of(path), d.digest, `index.json reaches ${d.digest}, which is missing or wrong`);
    if (/manifest|index/.test(d.mediaType)) {
      const body = JSON.parse(await readFile(path, 'utf8')) as { config?: { digest: string; mediaType: string }; layers?: []; manifests?: [] };
      queue.push(...(body.manifests ?? []), ...(body.config ? [body.config] : []), ...(body.layers ?? []));
    }
  }
  return reached;
}

/** A layout holding one unrelated image, tagged `old`. */
async function layoutWithOldImage(name: string): Promise<string> {
  const path = join(dir.path, name);
  await randomImage(await openLayout(path, { create: true }), { platform: { os: 'linux', architecture: 'amd64' }, bytes: 1000, seed: `old-${name}`, tag: 'old' });
  return path;
}

function blobGet(req: IncomingMessage, digest: string): boolean {
  return req.method === 'GET' && (req.url ?? '').endsWith(`/blobs/${digest}`);
}

test('a copy into a layout killed mid-copy leaves index.json naming only complete, verified blobs; the next copy completes', { timeout: 120_000 }, async () => {
  const layout = await layoutWithOldImage('killed');
  const indexBefore = await readFile(join(layout, 'index.json'));
  const filesBefore = await blobFiles(layout);
  const blobs = new Set(made.images.flatMap((i) => [i.config.digest, ...i.layers.map((l) => l.descriptor.digest)]));
  const held = made.images[2]!.layers[1]!.descriptor;
  let stalled!: () => void;
  const reachedHeld = new Promise<void>((resolve) => (stalled = resolve));
  let finishedOthers = 0;
  // The held blob's body stops half way and never ends; every other blob is served whole.
  proxy.hooks = {
    respond(req, up, res: ServerResponse) {
      if (!blobGet(req, held.digest)) {
        if (req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '')) res.once('finish', () => finishedOthers++);
        return false;
      }
      res.writeHead(up.statusCode ?? 200, up.headers);
      let sent = 0;
      up.on('data', (chunk: Buffer) => {
        if (sent >= held.size / 2) return;
        sent += chunk.length;
        res.write(chunk);
        if (sent >= held.size / 2) {
          up.pause();
          stalled();
        }
      });
      return true;
    },
  };
  const child = spawn(process.execPath, [CLI_PATH, 'copy', `${proxy.host}/app:v1`, `oci:${layout}:new`], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ? null : code)));
  try {
    await reachedHeld;
    // Kill once every other blob has been served and written (named, or waiting for its sync in a
    // temp file), the held one half written.
    const written = async (): Promise<number> => (await readdir(join(layout, 'blobs', 'sha256'))).length;
    while (finishedOthers < blobs.size - 1 || (await written()) < filesBefore.length + blobs.size) await delay(20);
  } finally {
    child.kill('SIGKILL');
  }
  assert.equal(await exited, null, 'the copy was killed, not finished');

  assert.deepEqual(await readFile(join(layout, 'index.json')), indexBefore, 'index.json names nothing of the killed copy');
  assert.ok(!(await blobFiles(layout)).includes(held.digest.slice('sha256:'.length)), 'the half-written blob has no final name');
  await assertLayoutValid(layout);

  proxy.hooks = {};
  const again = await runCli(['copy', `${proxy.host}/app:v1`, `oci:${layout}:new`]);
  assert.equal(again.code, 0, again.stderr);
  const reached = await assertLayoutValid(layout);
  for (const digest of [made.index.digest, ...blobs]) assert.ok(reached.has(digest), `${digest} is reachable after the second copy`);
  const leftovers = (await readdir(join(layout, 'blobs', 'sha256'))).filter(isTempName);
  assert.deepEqual(leftovers, [], 'the killed copy’s temp files are cleared');
});

/** Serves `digest` with one byte flipped half way, under the same Content-Length. */
function flipOneByte(digest: string, size: number): ProxyHandle['hooks'] {
  return {
    respond(req, up, res) {
      if (!blobGet(req, digest)) return false;
      res.writeHead(up.statusCode ?? 200, up.headers);
      const at = Math.floor(size / 2);
      let seen = 0;
      up.on('data', (chunk: Buffer) => {
        if (at >= seen && at < seen + chunk.length) {
          const copy = Buffer.from(chunk);
          copy[at - seen] = (copy[at - seen] as number) ^ 0x01;
          res.write(copy);
        } else res.write(chunk);
        seen += chunk.length;
      });
      up.on('end', () => res.end());
      return true;
    },
  };
}

test('one wrong byte in a large blob fails copy into a layout with one digest line; the layout is as it was', { timeout: 120_000 }, async () => {
  const layer = big.layers[0]!.descriptor;
  const layout = await layoutWithOldImage('wrong-byte');
  const indexBefore = await readFile(join(layout, 'index.json'));
  const filesBefore = await blobFiles(layout);
  proxy.hooks = flipOneByte(layer.digest, layer.size);
  const result = await runCli(['copy', '--progress', 'quiet', `${proxy.host}/big:v1`, `oci:${layout}:new`]);
  assert.notEqual(result.code, 0);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, /digest mismatch/);
  assert.doesNotMatch(result.stderr, /^\s+at /m);
  assert.deepEqual(await readFile(join(layout, 'index.json')), indexBefore);
  assert.deepEqual(await blobFiles(layout), filesBefore, 'no blob of the failed copy stays behind');
  await assertLayoutValid(layout);
  assert.ok(proxy.seen.filter((r) => r.method === 'GET' && r.path.endsWith(layer.digest)).length >= 1);
});

for (const [upload, chunkSize] of [['a chunked upload', 4 * 1024 * 1024], ['an upload in one request', undefined]] as const) {
  test(`one wrong byte in a large blob fails ${upload} to a registry: neither the blob nor the tag appears there`, { timeout: 120_000 }, async () => {
    const repository = chunkSize === undefined ? 'big-one' : 'big';
    const layer = big.layers[0]!.descriptor;
    proxy.hooks = flipOneByte(layer.digest, layer.size);
    await assert.rejects(
      copy({ source: `${proxy.host}/big:v1`, destination: `${target.host}/${repository}:v1`, ...(chunkSize !== undefined ? { chunkSize } : {}) }),
      (error: unknown) => isPolyarchError(error) && error.code === 'DIGEST_MISMATCH',
    );
    const blob = await fetch(`${target.url}/v2/${repository}/blobs/${layer.digest}`, { method: 'HEAD' });
    assert.equal(blob.status, 404, 'the registry holds no blob under the digest');
    const manifest = await fetch(`${target.url}/v2/${repository}/manifests/v1`, { method: 'HEAD', headers: { accept: big.manifest.mediaType } });
    assert.equal(manifest.status, 404, 'the tag was never written');
    // The same copy with honest bytes goes through the same path and lands whole.
    proxy.hooks = {};
    await copy({ source: `${proxy.host}/big:v1`, destination: `${target.host}/${repository}:v1`, ...(chunkSize !== undefined ? { chunkSize } : {}) });
    const landed = await fetch(`${target.url}/v2/${repository}/blobs/${layer.digest}`);
    assert.equal(landed.status, 200);
    assert.equal(`sha256:${createHash('sha256').update(Buffer.from(await landed.arrayBuffer())).digest('hex')}`, layer.digest);
  });
}

test("one wrong byte fails a copy into polyarch's own registry, and the upload sessions it opened are cancelled: no bytes stay on the server", { timeout: 120_000 }, async () => {
  const serve = await startEmbedded();
  try {
    const layer = big.layers[0]!.descriptor;
    for (const chunkSize of [4 * 1024 * 1024, undefined]) {
      proxy.hooks = flipOneByte(layer.digest, layer.size);
      await assert.rejects(
        copy({ source: `${proxy.host}/big:v1`, destination: `${serve.host}/big:v1`, ...(chunkSize !== undefined ? { chunkSize } : {}) }),
        (error: unknown) => isPolyarchError(error) && error.code === 'DIGEST_MISMATCH',
      );
      // The broken request may still hold its session when the cancel arrives: it is cancelled all the same.
      assert.deepEqual(await readdir(join(serve.root, 'uploads')).catch(() => []), [], `no upload session left (${chunkSize ? 'chunked' : 'one request'})`);
    }
  } finally {
    proxy.hooks = {};
    await serve.stop();
  }
});

test('a layout blob that is a link to a file elsewhere, or a FIFO, is refused before a byte of it is read', { timeout: 120_000 }, async () => {
  const layout = join(dir.path, 'linked');
  const image = await randomImage(await openLayout(layout, { create: true }), { platform: { os: 'linux', architecture: 'amd64' }, bytes: 700_000, seed: 'linked', tag: 'v1' });
  const layer = image.layers[0]!.descriptor;
  const blob = join(layout, 'blobs', 'sha256', layer.digest.slice('sha256:'.length));
  // A file outside the layout, of the layer's size, that must not reach the registry.
  const secret = join(dir.path, 'secret');
  await writeFile(secret, Buffer.alloc(layer.size, 'secret '));
  for (const [kind, plant] of [
    ['symbolic link', () => symlink(secret, blob)],
    ['not a regular file', async () => execFileSync('mkfifo', [blob])],
  ] as const) {
    await rm(blob, { force: true });
    await plant();
    const repository = kind === 'symbolic link' ? 'linked' : 'fifo';
    const result = await runCli(['copy', '--progress', 'quiet', `oci:${layout}:v1`, `${target.host}/${repository}:v1`]);
    assert.notEqual(result.code, 0);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`blob ${layer.digest} is (a )?${kind}`));
    const stored = await fetch(`${target.url}/v2/${repository}/blobs/${layer.digest}`, { method: 'HEAD' });
    assert.equal(stored.status, 404);
  }
});

test("a layout's index.json or index.json.lock that is a FIFO, a link or /dev/zero is one LAYOUT_INVALID line, at once: nothing hangs, nothing is read through a link", { timeout: 120_000 }, async () => {
  const made = async (name: string) => {
    const layout = join(dir.path, name);
    await randomImage(await openLayout(layout, { create: true }), { platform: { os: 'linux', architecture: 'amd64' }, bytes: 1000, seed: name, tag: 'v1' });
    return layout;
  };
  const secret = join(dir.path, 'index-secret');
  await writeFile(secret, 'HOST-SECRET-INDEX\n');
  const cases = [
    ['index.json as a FIFO', 'index.json', async (path: string) => execFileSync('mkfifo', [path]), /index\.json: is not a regular file/],
    ['index.json linked to a host file', 'index.json', (path: string) => symlink(secret, path), /index\.json: is a symbolic link, not a file/],
    ['index.json linked to /dev/zero', 'index.json', (path: string) => symlink('/dev/zero', path), /index\.json: is a symbolic link, not a file/],
  ] as const;
  for (const [what, name, plant, message] of cases) {
    const layout = await made(`index-${cases.findIndex((c) => c[0] === what)}`);
    await rm(join(layout, name), { force: true });
    await plant(join(layout, name));
    const started = Date.now();
    const read = await runCli(['inspect', `oci:${layout}:v1`]);
    assert.equal(read.code, 1, `${what}: ${read.stderr}`);
    assert.match(read.stderr, message, what);
    assert.match(read.stderr, /\[LAYOUT_INVALID\]\n$/, what);
    assert.equal(read.stderr.trim().split('\n').length, 1, read.stderr);
    assert.ok(!read.stderr.includes('HOST-SECRET'), what);
    assert.ok(Date.now() - started < 20_000, `${what} took too long`);
  }
  // A FIFO in the lock's place is not a lock to wait 30 s for (or forever, reading its owner).
  const source = await made('lock-source');
  const locked = await made('lock-fifo');
  execFileSync('mkfifo', [join(locked, 'index.json.lock')]);
  const copied = await runCli(['copy', '--progress', 'quiet', `oci:${source}:v1`, `oci:${locked}:v2`]);
  assert.equal(copied.code, 1, copied.stderr);
  assert.match(copied.stderr, /index\.json\.lock is not a lock file \(not a regular file\).*\[LAYOUT_INVALID\]\n$/);
});

test('a destination layout whose blob folder is a link elsewhere is refused before a byte lands there; blob names planted as links are replaced, never written through, and a directory there is named', { timeout: 120_000 }, async () => {
  const outside = join(dir.path, 'outside');
  await mkdir(outside);
  const folderLinked = await layoutWithOldImage('folder-linked');
  await rm(join(folderLinked, 'blobs', 'sha256'), { recursive: true });
  await symlink(outside, join(folderLinked, 'blobs', 'sha256'));
  const refused = await runCli(['copy', '--progress', 'quiet', `${source.host}/app:v1`, `oci:${folderLinked}:v1`]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /^polyarch: oci:.*: blobs\/sha256 is a symbolic link.*\[LAYOUT_INVALID\]\n$/);
  assert.deepEqual(await readdir(outside), [], 'nothing was written where the link points');

  // Every blob the copy will write is already named, as a link to a host file of that name.
  const clean = join(dir.path, 'names-clean');
  assert.equal((await runCli(['copy', '--progress', 'quiet', `${source.host}/app:v1`, `oci:${clean}:v1`])).code, 0);
  const names = await blobFiles(clean);
  const namesLinked = await layoutWithOldImage('names-linked');
  for (const name of names) {
    await writeFile(join(outside, name), `host file ${name}\n`);
    await symlink(join(outside, name), join(namesLinked, 'blobs', 'sha256', name));
  }
  const copied = await runCli(['copy', '--progress', 'quiet', `${source.host}/app:v1`, `oci:${namesLinked}:v1`]);
  assert.equal(copied.code, 0, copied.stderr);
  for (const name of names) {
    assert.equal(await readFile(join(outside, name), 'utf8'), `host file ${name}\n`, 'the host file is untouched');
    assert.ok((await lstat(join(namesLinked, 'blobs', 'sha256', name))).isFile(), `${name} is the blob now, not the link`);
  }
  await assertLayoutValid(namesLinked);

  // A directory under a blob's name is no blob and cannot be renamed over: one LAYOUT_INVALID line naming it.
  const dirPlanted = await layoutWithOldImage('dir-planted');
  await mkdir(join(dirPlanted, 'blobs', 'sha256', names[0]!));
  const blocked = await runCli(['copy', '--progress', 'quiet', `${source.host}/app:v1`, `oci:${dirPlanted}:v1`]);
  assert.equal(blocked.code, 1, blocked.stderr);
  assert.match(blocked.stderr, new RegExp(`^polyarch: .*${names[0]} is a directory where a file belongs; remove it \\[LAYOUT_INVALID\\]\n$`));
});
