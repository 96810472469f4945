// The CLI's code cache (src/cli/code-cache.ts) is bytes read from the user's cache directory that
// V8 runs as code: a way in. A file V8 refuses (garbage) is compiled from source and made again; a
// link at the cache's name is not followed and its target is not written; a file others may write,
// or another user's (root never runs another user's bytecode), is not read.
import assert from 'node:assert/strict';
import { chmod, chown, lstat, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cacheFilesIn, requireInOwnProcess, writeProbeScript } from '../helpers/code-cache.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('hostile code cache files', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let script = '';
  let expected: unknown;

  before(async () => {
    dir = await tempDir('polyarch-code-cache-attack-');
    ({ script, expected } = await writeProbeScript(dir.path));
  });
  after(async () => dir?.remove());

  test('data V8 refuses is made again; a link, a file others may write and no directory are not read', async () => {
    const cache = join(dir.path, 'hostile', 'code');
    const made = requireInOwnProcess(script, cache);
    made.saveCache();
    const [name] = await cacheFilesIn(cache);
    const path = join(cache, name!);
    const good = await readFile(path);

    await writeFile(path, Buffer.alloc(good.length, 0x5a));
    const garbage = requireInOwnProcess(script, cache);
    assert.equal(garbage.cache, 'refused');
    assert.deepEqual(garbage.exports, expected);
    garbage.saveCache();
    assert.equal(requireInOwnProcess(script, cache).cache, 'used', 'the refused file was made again');

    // A link at the cache's name (to a good cache, even) is not followed, and saving replaces the link, not its target.
    const elsewhere = join(dir.path, 'elsewhere.v8');
    await writeFile(elsewhere, good, { mode: 0o600 });
    await rm(path);
    await symlink(elsewhere, path);
    const linked = requireInOwnProcess(script, cache);
    assert.equal(linked.cache, 'none');
    linked.saveCache();
    assert.ok((await lstat(path)).isFile(), 'the link was replaced by a file');
    assert.deepEqual(await readFile(elsewhere), good, 'the link target was not written');

    await chmod(path, 0o666);
    assert.equal(requireInOwnProcess(script, cache).cache, 'none', 'a cache file others may write is not read');
    await chmod(path, 0o600);
    assert.equal(requireInOwnProcess(script, cache).cache, 'used');
    // Root (CI runs polyarch as root) never runs code another user's file holds.
    if (process.getuid?.() === 0) {
      await chown(path, 54321, 54321);
      assert.equal(requireInOwnProcess(script, cache).cache, 'none', 'a cache file of another user is not read');
    }

    const off = requireInOwnProcess(script, undefined);
    assert.equal(off.cache, 'off');
    off.saveCache();
    assert.deepEqual(off.exports, expected);
  });
});
