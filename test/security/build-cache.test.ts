// Issue 9, item 19: the build cache ($XDG_CACHE_HOME/polyarch/build) no longer grows by a tag a
// build, and `polyarch prune [--all] [--keep-storage SIZE]` empties it: never while a build still
// needs what it would delete, and never through a symlink planted in the cache.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI_PATH, runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

interface Index {
  manifests: { digest: string; annotations?: Record<string, string> }[];
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** Every blob an OCI layout's index reaches, checked present and matching its digest. */
async function assertComplete(layout: string): Promise<void> {
  const pending = (await readJson<Index>(join(layout, 'index.json'))).manifests.map((m) => m.digest);
  while (pending.length > 0) {
    const digest = pending.pop()!;
    const bytes = await readFile(join(layout, 'blobs', 'sha256', digest.slice(7)));
    assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, digest);
    const body = ((): { manifests?: { digest: string }[]; config?: { digest: string }; layers?: { digest: string }[] } => {
      try {
        return JSON.parse(bytes.toString()) as never;
      } catch {
        return {};
      }
    })();
    // An image config has a `config` too, without a digest: only descriptors are followed.
    for (const d of [...(body.manifests ?? []), ...(body.config ? [body.config] : []), ...(body.layers ?? [])]) if (typeof d.digest === 'string') pending.push(d.digest);
  }
}

describe('9.19 the build cache', () => {
  let dir: { path: string; remove(): Promise<void> };
  before(async () => {
    dir = await tempDir('polyarch-cache-');
  });
  after(() => dir.remove());

  /** A context with `files`, and a cache of its own under `name`. */
  async function setup(name: string, files: Record<string, string | Buffer>) {
    const ctx = join(dir.path, name);
    await mkdir(ctx, { recursive: true });
    for (const [file, content] of Object.entries(files)) await writeFile(join(ctx, file), content);
    const env = { XDG_CACHE_HOME: join(dir.path, `${name}-cache`) };
    const cache = join(env.XDG_CACHE_HOME, 'polyarch', 'build');
    return { ctx, env, cache };
  }

  test('9.19 repeated builds (exported, unexported, failed) leave no tag and no index entry behind', async () => {
    const { ctx, env, cache } = await setup('repeat', { 'Dockerfile': 'FROM scratch\nARG TARGETARCH\nCOPY $TARGETARCH.txt /arch.txt\n', 'amd64.txt': 'amd64\n' });
    for (let n = 0; n < 4; n++) {
      const output = n % 2 === 0 ? ['-o', `oci:${join(dir.path, `repeat-out-${n}`)}:1`] : [];
      const out = await runCli(['build', '-q', '--platform', 'linux/amd64', '--source-date-epoch', String(1_700_000_000 + n), ...output, ctx], { env });
      assert.equal(out.code, 0, out.stderr);
      const index = await readJson<Index>(join(cache, 'index.json'));
      assert.deepEqual(index.manifests, [], `after build ${n + 1}: ${JSON.stringify(index.manifests)}`);
    }
    // A build that fails on its second platform leaves nothing in index.json either.
    const failed = await runCli(['build', '-q', '--platform', 'linux/amd64,linux/arm64', ctx], { env });
    assert.equal(failed.code, 2, failed.stderr);
    assert.deepEqual((await readJson<Index>(join(cache, 'index.json'))).manifests, []);
  });

  test('9.19 prune --all removes every entry and blob; the next build works', async () => {
    const { ctx, env, cache } = await setup('all', { 'Dockerfile': 'FROM scratch\nCOPY data.bin /data.bin\n', 'data.bin': randomBytes(50_000) });
    const built = await runCli(['build', '-q', '--platform', 'linux/amd64', ctx], { env });
    assert.equal(built.code, 0, built.stderr);
    assert.ok((await readdir(join(cache, 'blobs', 'sha256'))).length > 0);
    const pruned = await runCli(['prune', '--all', '--json'], { env });
    assert.equal(pruned.code, 0, pruned.stderr);
    const report = JSON.parse(pruned.stdout) as { removed: { type: string; name: string; size?: number }[]; bytesFreed: number; bytesKept: number };
    assert.ok(report.removed.some((r) => r.type === 'layer'), pruned.stdout);
    assert.ok(report.removed.some((r) => r.type === 'blob' && (r.size ?? 0) > 50_000), 'the layer blob');
    assert.ok(report.bytesFreed > 50_000);
    assert.equal(report.bytesKept, 0);
    assert.deepEqual(await readdir(join(cache, 'blobs', 'sha256')), []);
    assert.deepEqual(await readdir(join(cache, 'polyarch-layer-cache')), []);
    const again = await runCli(['build', '-q', '--platform', 'linux/amd64', '-o', `oci:${join(dir.path, 'all-out')}:1`, ctx], { env });
    assert.equal(again.code, 0, again.stderr);
    await assertComplete(join(dir.path, 'all-out'));
  });

  test('9.19 prune --keep-storage keeps the most recently used entries up to the size; bad sizes are refused', async () => {
    const { ctx, env, cache } = await setup('keep', { 'old.bin': randomBytes(300_000), 'new.bin': randomBytes(300_000) });
    for (const name of ['old', 'new']) {
      await writeFile(join(ctx, `${name}.Dockerfile`), `FROM scratch\nCOPY ${name}.bin /${name}.bin\n`);
      const out = await runCli(['build', '-q', '--platform', 'linux/amd64', '-f', join(ctx, `${name}.Dockerfile`), '-o', `oci:${join(dir.path, `keep-${name}`)}:1`, ctx], { env });
      assert.equal(out.code, 0, out.stderr);
      await new Promise((resolve) => setTimeout(resolve, 50)); // distinct use times
    }
    const layerOf = async (name: string) => {
      const layout = join(dir.path, `keep-${name}`);
      const index = await readJson<Index>(join(layout, 'index.json'));
      const top = await readJson<{ manifests: { digest: string }[] }>(join(layout, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)));
      return (await readJson<{ layers: { digest: string }[] }>(join(layout, 'blobs', 'sha256', top.manifests[0]!.digest.slice(7)))).layers[0]!.digest;
    };
    const bad = await runCli(['prune', '--keep-storage', 'lots'], { env });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /size "lots" is not a size/);
    const pruned = await runCli(['prune', '--keep-storage', '400KB'], { env });
    assert.equal(pruned.code, 0, pruned.stderr);
    const blobs = await readdir(join(cache, 'blobs', 'sha256'));
    assert.deepEqual(blobs, [(await layerOf('new')).slice(7)], 'only the newer layer is left');
    const keys = await readdir(join(cache, 'polyarch-layer-cache'));
    assert.equal(keys.length, 1);
    assert.equal((await readJson<{ descriptor: { digest: string } }>(join(cache, 'polyarch-layer-cache', keys[0]!))).descriptor.digest, await layerOf('new'));
  });

  test('9.19 POLYARCH_CACHE_MAX caps the cache after each build, least recently used first', async () => {
    const { ctx, env, cache } = await setup('cap', { 'old.bin': randomBytes(300_000), 'new.bin': randomBytes(300_000) });
    const capped = { ...env, POLYARCH_CACHE_MAX: '400KB' };
    const layers: string[] = [];
    for (const name of ['old', 'new']) {
      await writeFile(join(ctx, `${name}.Dockerfile`), `FROM scratch\nCOPY ${name}.bin /${name}.bin\n`);
      const out = await runCli(['build', '-q', '--platform', 'linux/amd64', '-f', join(ctx, `${name}.Dockerfile`), ctx], { env: capped });
      assert.equal(out.code, 0, out.stderr);
      const keys = await readdir(join(cache, 'polyarch-layer-cache'));
      layers.push(...(await Promise.all(keys.map(async (k) => (await readJson<{ descriptor: { digest: string } }>(join(cache, 'polyarch-layer-cache', k))).descriptor.digest))).filter((d) => !layers.includes(d)));
    }
    const blobs = await readdir(join(cache, 'blobs', 'sha256'));
    assert.equal(layers.length, 2);
    assert.ok(!blobs.includes(layers[0]!.slice(7)), 'the older layer went');
    assert.ok(blobs.includes(layers[1]!.slice(7)), 'the newer one stayed');
    const bad = await runCli(['build', '-q', '--platform', 'linux/amd64', '-f', join(ctx, 'new.Dockerfile'), ctx], { env: { ...env, POLYARCH_CACHE_MAX: 'big' } });
    assert.equal(bad.code, 2, bad.stderr);
  });

  test('9.19 prune never deletes through a symlink planted in the cache', async () => {
    const { ctx, env, cache } = await setup('planted', { 'Dockerfile': 'FROM scratch\nCOPY f /f\n', f: 'f\n' });
    const built = await runCli(['build', '-q', '--platform', 'linux/amd64', ctx], { env });
    assert.equal(built.code, 0, built.stderr);
    // The "host": files a prune must never touch.
    const host = join(dir.path, 'planted-host');
    const victims: Record<string, string> = {
      'victim.txt': 'victim\n',
      [`dir/${'b'.repeat(128)}`]: 'sha512 blob look-alike\n',
      [`keys/${'c'.repeat(64)}`]: '{"descriptor":{"digest":"sha256:' + 'd'.repeat(64) + '"}}',
      'tmpdir/inside.txt': 'temp look-alike\n',
      'leases/1': '1',
    };
    for (const [name, content] of Object.entries(victims)) {
      await mkdir(join(host, name, '..'), { recursive: true });
      await writeFile(join(host, name), content);
    }
    await symlink(join(host, 'victim.txt'), join(cache, 'blobs', 'sha256', 'e'.repeat(64)));
    await symlink(join(host, 'dir'), join(cache, 'blobs', 'sha512'));
    await symlink(join(host, 'tmpdir'), join(cache, `.from-999999-abcdef.polyarch-tmp`));
    await symlink(join(host, 'tmpdir'), join(cache, 'blobs', 'sha256', `.blob-999999-abcdef.polyarch-tmp`));
    await rm(join(cache, 'polyarch-layer-cache'), { recursive: true });
    await symlink(join(host, 'keys'), join(cache, 'polyarch-layer-cache'));
    await rm(join(cache, 'polyarch-leases'), { recursive: true, force: true });
    await symlink(join(host, 'leases'), join(cache, 'polyarch-leases'));

    const pruned = await runCli(['prune', '--all', '--json'], { env });
    assert.equal(pruned.code, 0, pruned.stderr);
    for (const [name, content] of Object.entries(victims)) assert.equal(await readFile(join(host, name), 'utf8'), content, `${name} outside the cache is untouched`);
    assert.ok((await stat(join(host, 'dir'))).isDirectory());
  });

  test('a path list in the cache that is not one (planted or damaged) is read again from its layer: the image a clean cache makes', async () => {
    const { ctx, env, cache } = await setup('lists', { 'Dockerfile': 'FROM scratch\nCOPY f /d/f\nCOPY g /d/\n', f: 'f\n', g: 'g\n' });
    const first = await runCli(['build', '-q', '--platform', 'linux/amd64', ctx], { env });
    assert.equal(first.code, 0, first.stderr);
    const lists = join(cache, 'polyarch-dir-cache');
    const files = await readdir(lists);
    assert.ok(files.length > 0, 'the build keeps the path lists of its layers');
    // Not JSON, not a list, entries of the wrong shape, and a directory without its mode and owners.
    const bad = ['{', '{"x":1}', '"s"', '[null]', '[[1,2]]', '[["d",{"type":"directory"}]]', '[["d",{"type":"directory","mode":-1,"uid":0,"gid":0}]]', '[["d",{"type":"device"}]]'];
    for (const [round, text] of bad.entries()) {
      for (const file of files) await writeFile(join(lists, file), text);
      // New content each round, so the second COPY is made again and reads the list.
      await writeFile(join(ctx, 'g'), `g ${round}\n`);
      const clean = await runCli(['build', '-q', '--platform', 'linux/amd64', ctx], { env: { XDG_CACHE_HOME: join(dir.path, `lists-clean-${round}`) } });
      const got = await runCli(['build', '-q', '--platform', 'linux/amd64', ctx], { env });
      assert.equal(got.code, 0, `${text}: ${got.stderr}`);
      assert.equal(got.stdout, clean.stdout, `${text}: the same image as a clean cache`);
    }
  });

  test('a layer of the cache damaged between builds is caught when a later build reads it: only what a build wrote itself is read unchecked', async () => {
    const { ctx, env, cache } = await setup('damaged', { 'Dockerfile': 'FROM scratch\nCOPY f /d/f\nCOPY g /d/\n', f: 'f\n', g: 'g\n' });
    const first = await runCli(['build', '-q', '--platform', 'linux/amd64', ctx], { env });
    assert.equal(first.code, 0, first.stderr);
    // The first COPY's layer: the one whose path list the build kept. Its bytes change, its name stays.
    const lists = join(cache, 'polyarch-dir-cache');
    const [list] = await readdir(lists);
    const blob = join(cache, 'blobs', 'sha256', list!.replace(/^sha256-/, '').replace(/\.paths-v2$/, ''));
    const bytes = await readFile(blob);
    bytes[bytes.length - 20]! ^= 0xff;
    await writeFile(blob, bytes);
    await rm(lists, { recursive: true }); // so the next COPY reads the layer itself
    await writeFile(join(ctx, 'g'), 'g again\n');
    const got = await runCli(['build', '-q', '--platform', 'linux/amd64', ctx], { env });
    assert.notEqual(got.code, 0);
    assert.match(got.stderr, /digest mismatch.*\[DIGEST_MISMATCH\]/);
    assert.equal(got.stderr.trim().split('\n').length, 1, got.stderr);
  });

  test('9.19 a prune waits for a running build; the layer that build reuses survives', async () => {
    const { ctx, env, cache } = await setup('concurrent', { 'a.bin': randomBytes(100_000) });
    await writeFile(join(ctx, 'first.Dockerfile'), 'FROM scratch\nCOPY a.bin /a.bin\n');
    const first = await runCli(['build', '-q', '--platform', 'linux/amd64', '-f', join(ctx, 'first.Dockerfile'), ctx], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.equal((await readdir(join(cache, 'polyarch-layer-cache'))).length, 1);

    // The second build reuses that cached layer, then stalls on a download until the test lets it go.
    let stalled: ServerResponse | undefined;
    let requested!: () => void;
    const asked = new Promise<void>((resolve) => (requested = resolve));
    const server = createServer((_req, res) => {
      stalled = res;
      requested();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      await writeFile(join(ctx, 'second.Dockerfile'), `FROM scratch\nCOPY a.bin /a.bin\nADD http://127.0.0.1:${port}/slow.txt /slow.txt\n`);
      const out = join(dir.path, 'concurrent-out');
      const second = runCli(['build', '-q', '--platform', 'linux/amd64', '-f', join(ctx, 'second.Dockerfile'), '-o', `oci:${out}:1`, ctx], { env });
      await asked;
      // prune --all while the build holds its lease: it must wait, not delete the reused layer.
      const prune = spawn(process.execPath, [CLI_PATH, 'prune', '--all'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let pruneErr = '';
      const waiting = new Promise<void>((resolve) => prune.stderr.on('data', (c: Buffer) => ((pruneErr += c.toString()), pruneErr.includes('waiting for') && resolve())));
      const pruneDone = new Promise<number>((resolve) => prune.on('close', (code) => resolve(code ?? -1)));
      await Promise.race([waiting, pruneDone]);
      assert.match(pruneErr, /waiting for 1 build\(s\) using the cache/, 'prune saw the running build');
      stalled!.end('slow\n');
      const built = await second;
      assert.equal(built.code, 0, built.stderr);
      await assertComplete(out);
      assert.equal(await pruneDone, 0, pruneErr);
    } finally {
      stalled?.destroy();
      server.close();
    }
  });
});
