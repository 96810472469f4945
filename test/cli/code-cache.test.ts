// The installed bin runs its command code (command-code.cjs) through V8's code cache, kept in the
// user's cache directory. The cache is executable code read from disk, so it is taken only from
// this user's own regular file, never through a link; a file V8 refuses is made again; a cache
// directory that cannot be written leaves the command as it was, only slower.
import assert from 'node:assert/strict';
import { chmod, chown, lstat, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { codeCacheDir } from '../../src/cli/code-cache.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const MODULE = new URL('../../src/cli/code-cache.js', import.meta.url).href;

/**
 * requireWithCodeCache in a process of its own, then its saveCache: in one process V8 keeps each
 * source it compiled and would not look at a cache file again.
 */
function requireWithCodeCache(file: string, cache: string | undefined, variant?: string): { cache: string; exports: unknown; saveCache: () => void } {
  const run = (save: boolean) => {
    const code = `const { requireWithCodeCache } = await import(${JSON.stringify(MODULE)});
      const loaded = requireWithCodeCache(${JSON.stringify(file)}, ${JSON.stringify(cache ?? null)} ?? undefined, ${JSON.stringify(variant ?? null)} ?? undefined);
      if (${save}) loaded.saveCache();
      process.stdout.write(JSON.stringify({ cache: loaded.cache, exports: loaded.exports }));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stderr, '');
    return JSON.parse(child.stdout) as { cache: string; exports: unknown };
  };
  return { ...run(false), saveCache: () => void run(true) };
}

describe('code cache', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let script = '';
  let other = '';

  before(async () => {
    dir = await tempDir('polyarch-code-cache-');
    script = join(dir.path, 'script.cjs');
    // Enough code for V8 to cache, and a result that shows it ran: exports, require and __dirname work.
    await writeFile(script, `const { join } = require('node:path');\nfunction square(n) { return n * n; }\nmodule.exports = { answer: square(6) + 6, here: join(__dirname, 'x'), arrow: '\\u2192' };\n`);
    other = join(dir.path, 'other.cjs');
    await writeFile(other, "module.exports = { other: true, text: 'non-ASCII → read as UTF-8' };\n");
  });
  after(async () => dir?.remove());

  const expected = () => ({ answer: 42, here: join(dir.path, 'x'), arrow: '→' });
  const cacheFiles = async (cache: string) => (await readdir(cache).catch(() => [] as string[])).filter((n) => n.endsWith('.v8-cache'));

  test('the first run makes the cache (mode 600, in a directory of mode 700), the next compiles from it', async () => {
    const cache = join(dir.path, 'fresh', 'code');
    const first = requireWithCodeCache(script, cache);
    assert.equal(first.cache, 'none');
    assert.deepEqual(first.exports, expected());
    first.saveCache();
    const [name] = await cacheFiles(cache);
    assert.ok(name, 'a cache file was written');
    assert.equal((await lstat(join(cache, name))).mode & 0o777, 0o600);
    assert.equal((await lstat(cache)).mode & 0o777, 0o700);
    const second = requireWithCodeCache(script, cache);
    assert.equal(second.cache, 'used');
    assert.deepEqual(second.exports, expected());
    // A file that is not ASCII is read as UTF-8, with a cache of its own.
    const third = requireWithCodeCache(other, cache);
    assert.deepEqual(third.exports, { other: true, text: 'non-ASCII → read as UTF-8' });
    third.saveCache();
    assert.equal((await cacheFiles(cache)).length, 2);
  });

  test('data V8 refuses is made again; a link, a file others may write and no directory are not read', async () => {
    const cache = join(dir.path, 'hostile', 'code');
    const made = requireWithCodeCache(script, cache);
    made.saveCache();
    const [name] = await cacheFiles(cache);
    const path = join(cache, name!);
    const good = await readFile(path);

    await writeFile(path, Buffer.alloc(good.length, 0x5a));
    const garbage = requireWithCodeCache(script, cache);
    assert.equal(garbage.cache, 'refused');
    assert.deepEqual(garbage.exports, expected());
    garbage.saveCache();
    assert.equal(requireWithCodeCache(script, cache).cache, 'used', 'the refused file was made again');

    // A link at the cache's name (to a good cache, even) is not followed, and saving replaces the link, not its target.
    const elsewhere = join(dir.path, 'elsewhere.v8');
    await writeFile(elsewhere, good, { mode: 0o600 });
    await rm(path);
    await symlink(elsewhere, path);
    const linked = requireWithCodeCache(script, cache);
    assert.equal(linked.cache, 'none');
    linked.saveCache();
    assert.ok((await lstat(path)).isFile(), 'the link was replaced by a file');
    assert.deepEqual(await readFile(elsewhere), good, 'the link target was not written');

    await chmod(path, 0o666);
    assert.equal(requireWithCodeCache(script, cache).cache, 'none', 'a cache file others may write is not read');
    await chmod(path, 0o600);
    assert.equal(requireWithCodeCache(script, cache).cache, 'used');
    // Root (CI runs polyarch as root) never runs code another user's file holds.
    if (process.getuid?.() === 0) {
      await chown(path, 54321, 54321);
      assert.equal(requireWithCodeCache(script, cache).cache, 'none', 'a cache file of another user is not read');
    }

    const off = requireWithCodeCache(script, undefined);
    assert.equal(off.cache, 'off');
    off.saveCache();
    assert.deepEqual(off.exports, expected());
  });

  test('a cache directory that cannot be made only turns the cache off; a few versions are kept', async () => {
    const blocked = join(dir.path, 'a-file');
    await writeFile(blocked, 'not a directory');
    const loaded = requireWithCodeCache(script, join(blocked, 'code'));
    assert.deepEqual(loaded.exports, expected());
    loaded.saveCache(); // does not throw

    // Six versions of a script, each run as two variants (the CLI's commands): each variant has a
    // file of its own, and the files of the newest four versions are kept.
    const cache = join(dir.path, 'versions');
    for (let version = 0; version < 6; version++) {
      const file = join(dir.path, `version-${version}.cjs`);
      await writeFile(file, `module.exports = ${version};\n`);
      for (const variant of ['build', 'inspect']) {
        const run = requireWithCodeCache(file, cache, variant);
        assert.equal(run.exports, version);
        run.saveCache();
      }
      assert.equal(requireWithCodeCache(file, cache, 'build').cache, 'used');
      assert.equal(requireWithCodeCache(file, cache, 'copy').cache, 'none', 'another variant has no file yet');
    }
    const files = await cacheFiles(cache);
    assert.equal(files.length, 8, files.join(' '));
    assert.deepEqual(new Set(files.map((f) => f.replace(/^[0-9a-f]{32}-/, ''))), new Set(['build.v8-cache', 'inspect.v8-cache']));
    assert.equal(requireWithCodeCache(join(dir.path, 'version-0.cjs'), cache, 'build').cache, 'none', 'the oldest version\'s files went');
    assert.equal(requireWithCodeCache(join(dir.path, 'version-5.cjs'), cache, 'inspect').cache, 'used');
    // A variant that is no plain name is kept as "any" (it names a file).
    const odd = requireWithCodeCache(join(dir.path, 'version-5.cjs'), cache, '../../x');
    odd.saveCache();
    assert.ok((await cacheFiles(cache)).some((f) => f.endsWith('-any.v8-cache')));
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
    const files = await cacheFiles(join(xdg, 'polyarch', 'code'));
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
});
