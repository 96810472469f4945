// The installed bin runs its command code (command-code.cjs) through V8's code cache, kept in the
// user's cache directory: made on the first run, used on the next, a file per command; a cache
// directory that cannot be written leaves the command as it was, only slower. Hostile cache files
// are in test/security/code-cache.test.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { lstat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { codeCacheDir } from '../../src/cli/code-cache.js';
import { createEndpointOpener, parseLocation, parsePlatform } from '../../src/index.js';
import { cacheFilesIn, requireInOwnProcess, writeProbeScript } from '../helpers/code-cache.js';
import { randomImage } from '../helpers/images.js';
import { CLI_PATH, runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('code cache', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let script = '';
  let expected: unknown;
  let other = '';

  before(async () => {
    dir = await tempDir('polyarch-code-cache-');
    ({ script, expected } = await writeProbeScript(dir.path));
    other = join(dir.path, 'other.cjs');
    await writeFile(other, "module.exports = { other: true, text: 'non-ASCII → read as UTF-8' };\n");
  });
  after(async () => dir?.remove());

  test('the first run makes the cache (mode 600, in a directory of mode 700), the next compiles from it', async () => {
    const cache = join(dir.path, 'fresh', 'code');
    const first = requireInOwnProcess(script, cache);
    assert.equal(first.cache, 'none');
    assert.deepEqual(first.exports, expected);
    first.saveCache();
    const [name] = await cacheFilesIn(cache);
    assert.ok(name, 'a cache file was written');
    assert.equal((await lstat(join(cache, name))).mode & 0o777, 0o600);
    assert.equal((await lstat(cache)).mode & 0o777, 0o700);
    const second = requireInOwnProcess(script, cache);
    assert.equal(second.cache, 'used');
    assert.deepEqual(second.exports, expected);
    // A file that is not ASCII is read as UTF-8, with a cache of its own.
    const third = requireInOwnProcess(other, cache);
    assert.deepEqual(third.exports, { other: true, text: 'non-ASCII → read as UTF-8' });
    third.saveCache();
    assert.equal((await cacheFilesIn(cache)).length, 2);
  });

  test('a cache directory that cannot be made only turns the cache off; a few versions are kept', async () => {
    const blocked = join(dir.path, 'a-file');
    await writeFile(blocked, 'not a directory');
    const loaded = requireInOwnProcess(script, join(blocked, 'code'));
    assert.deepEqual(loaded.exports, expected);
    loaded.saveCache(); // does not throw

    // Six versions of a script, each run as two variants (the CLI's commands): each variant has a
    // file of its own, and the files of the newest four versions are kept.
    const cache = join(dir.path, 'versions');
    for (let version = 0; version < 6; version++) {
      const file = join(dir.path, `version-${version}.cjs`);
      await writeFile(file, `module.exports = ${version};\n`);
      for (const variant of ['build', 'inspect']) {
        const run = requireInOwnProcess(file, cache, variant);
        assert.equal(run.exports, version);
        run.saveCache();
      }
      assert.equal(requireInOwnProcess(file, cache, 'build').cache, 'used');
      assert.equal(requireInOwnProcess(file, cache, 'copy').cache, 'none', 'another variant has no file yet');
    }
    const files = await cacheFilesIn(cache);
    assert.equal(files.length, 8, files.join(' '));
    assert.deepEqual(new Set(files.map((f) => f.replace(/^[0-9a-f]{32}-/, ''))), new Set(['build.v8-cache', 'inspect.v8-cache']));
    assert.equal(requireInOwnProcess(join(dir.path, 'version-0.cjs'), cache, 'build').cache, 'none', 'the oldest version\'s files went');
    assert.equal(requireInOwnProcess(join(dir.path, 'version-5.cjs'), cache, 'inspect').cache, 'used');
    // A variant that is no plain name is kept as "any" (it names a file).
    const odd = requireInOwnProcess(join(dir.path, 'version-5.cjs'), cache, '../../x');
    odd.saveCache();
    assert.ok((await cacheFilesIn(cache)).some((f) => f.endsWith('-any.v8-cache')));
  });

  test('where the cache goes: beside the build cache, or nowhere with NODE_DISABLE_COMPILE_CACHE', () => {
    assert.equal(codeCacheDir({ XDG_CACHE_HOME: '/x/cache' }), '/x/cache/polyarch/code');
    assert.match(codeCacheDir({ HOME: '/home/u' }) ?? '', /\/\.cache\/polyarch\/code$/);
    assert.equal(codeCacheDir({ XDG_CACHE_HOME: '/x/cache', NODE_DISABLE_COMPILE_CACHE: '1' }), undefined);
  });

  test('the installed bin keeps its cache in the user cache directory and works without one', async () => {
    const xdg = join(dir.path, 'xdg');
    const layout = join(dir.path, 'no-such-layout');
    const env = { XDG_CACHE_HOME: xdg, NODE_DISABLE_COMPILE_CACHE: '' };
    const first = await runCli(['inspect', `oci:${layout}`], { env });
    assert.match(first.stderr, /is not an OCI image layout/);
    const files = await cacheFilesIn(join(xdg, 'polyarch', 'code'));
    assert.equal(files.length, 1, 'the command code was cached');
    assert.match(files[0]!, /^[0-9a-f]{32}-inspect\.v8-cache$/, 'in a file of the command\'s own');
    const second = await runCli(['inspect', `oci:${layout}`], { env });
    assert.deepEqual([second.code, second.stderr], [first.code, first.stderr]);
    // No cache wanted, or none possible: the same answer, nothing written, no other line.
    const disabled = join(dir.path, 'xdg-disabled');
    const off = await runCli(['inspect', `oci:${layout}`], { env: { XDG_CACHE_HOME: disabled, NODE_DISABLE_COMPILE_CACHE: '1' } });
    assert.deepEqual([off.code, off.stderr], [first.code, first.stderr]);
    await assert.rejects(lstat(disabled));
    const fileAsCache = join(dir.path, 'xdg-is-a-file');
    await writeFile(fileAsCache, '');
    const blocked = await runCli(['inspect', `oci:${layout}`], { env: { XDG_CACHE_HOME: fileAsCache, NODE_DISABLE_COMPILE_CACHE: '' } });
    assert.deepEqual([blocked.code, blocked.stderr], [first.code, first.stderr]);
  });

  test('a long command writes its cache while it runs, before V8 drops the code its start ran', async () => {
    // A registry that takes connections and never answers keeps `inspect` waiting.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as AddressInfo).port;
    const xdg = join(dir.path, 'xdg-long');
    const child = spawn(process.execPath, [CLI_PATH, 'inspect', `127.0.0.1:${port}/stalled:1`], {
      env: { ...process.env, XDG_CACHE_HOME: xdg, NODE_DISABLE_COMPILE_CACHE: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const deadline = Date.now() + 20_000;
      let files: string[] = [];
      while (files.length === 0 && Date.now() < deadline && child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 100));
        files = await cacheFilesIn(join(xdg, 'polyarch', 'code'));
      }
      assert.equal(child.exitCode, null, `inspect still waits: ${err}`);
      assert.deepEqual(files.map((f) => f.replace(/^[0-9a-f]{32}/, 'HASH')), ['HASH-inspect.v8-cache'], 'written while the command runs');
    } finally {
      child.kill('SIGKILL');
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  test('a command that sets V8 flags (copy) gets a cache the next run uses: the flags go in before its code compiles', async () => {
    const source = join(dir.path, 'flags-source');
    const opener = createEndpointOpener();
    const { endpoint } = await opener.open(parseLocation(`oci:${source}:1`), 'write');
    await randomImage(endpoint, { platform: parsePlatform('linux/amd64'), tag: '1' });
    await opener.close();
    const xdg = join(dir.path, 'xdg-flags');
    const env = { XDG_CACHE_HOME: xdg, NODE_DISABLE_COMPILE_CACHE: '' };
    const copyOnce = async (n: number): Promise<void> => {
      const copied = await runCli(['copy', '-q', `oci:${source}:1`, `oci:${join(dir.path, `flags-copy-${n}`)}:1`], { env });
      assert.equal(copied.code, 0, copied.stderr);
    };
    await copyOnce(1);
    const cacheDir = join(xdg, 'polyarch', 'code');
    const files = await cacheFilesIn(cacheDir);
    assert.deepEqual(files.map((f) => f.replace(/^[0-9a-f]{32}/, 'HASH')), ['HASH-copy.v8-cache'], 'the first copy made its cache');
    const made = await lstat(join(cacheDir, files[0]!));
    await copyOnce(2);
    // A cache V8 refused would have been written again (a new file, renamed into place).
    const after = await lstat(join(cacheDir, files[0]!));
    assert.deepEqual([after.ino, after.mtimeMs], [made.ino, made.mtimeMs], 'the second copy compiled from it and left it alone');
  });

  test('a run that set V8 flags writes no cache: the next run, without them, would refuse it', async () => {
    const flagged = join(dir.path, 'sets-flags.cjs');
    await writeFile(flagged, "require('node:v8').setFlagsFromString('--no-turbofan');\nmodule.exports = { flagged: true };\n");
    const cache = join(dir.path, 'cache-flags');
    const first = requireInOwnProcess(flagged, cache);
    assert.deepEqual([first.cache, first.exports], ['none', { flagged: true }]);
    first.saveCache();
    assert.deepEqual(await cacheFilesIn(cache), []);
  });
});
