// resolveInRoot and resolveInRootSync: symlinks, `..` and absolute targets are all resolved as if
// the root were `/`, the same by either.
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isWithin, LinkLoopError, resolveInRoot, resolveInRootSync } from '../../src/internal/contained-path.js';
import { tempDir } from '../helpers/temp-dir.js';

let root: string;
let remove: () => Promise<void>;

before(async () => {
  ({ path: root, remove } = await tempDir());
  await mkdir(join(root, 'usr/lib'), { recursive: true });
  await writeFile(join(root, 'usr/lib/libc.so'), 'x');
  await symlink('/etc', join(root, 'abs'));
  await symlink('../../../../..', join(root, 'usr/up'));
  await symlink('usr/lib', join(root, 'rel'));
  await symlink('/usr/lib/libc.so', join(root, 'libc'));
  await symlink('loop2', join(root, 'loop1'));
  await symlink('loop1', join(root, 'loop2'));
  await writeFile(join(root, 'file'), 'x');
});
after(() => remove());

test('paths resolve inside the root, whatever the links and dots say', async () => {
  const cases: [string, string, boolean?][] = [
    ['abs/shadow', 'etc/shadow'],
    ['/abs/passwd', 'etc/passwd'],
    ['usr/up/etc/x', 'etc/x'],
    ['../../../etc/x', 'etc/x'],
    ['rel/libc.so', 'usr/lib/libc.so'],
    ['rel/../lib/x', 'usr/lib/x'],
    ['nothere/../../x', 'x'],
    ['libc', 'libc'],
    ['libc', 'usr/lib/libc.so', true],
    ['abs', 'abs'],
    ['abs', 'etc', true],
    ['.', ''],
    ['file/below/x', 'file/below/x'],
  ];
  for (const [path, expected, followFinal] of cases) {
    const options = { followFinal: followFinal ?? false };
    const got = await resolveInRoot(root, path, options);
    assert.equal(got, join(root, expected), `${path} (followFinal ${String(options.followFinal)})`);
    assert.ok(isWithin(root, got));
    assert.equal(resolveInRootSync(root, path, options), got, `${path}: the sync walk agrees`);
  }
});

test('a symlink loop is an error, not a hang', async () => {
  await assert.rejects(resolveInRoot(root, 'loop1/x'), LinkLoopError);
  assert.throws(() => resolveInRootSync(root, 'loop1/x'), LinkLoopError);
});

test('isWithin judges text only', () => {
  assert.ok(isWithin('/a/b', '/a/b'));
  assert.ok(isWithin('/a/b', '/a/b/c/..'));
  assert.ok(!isWithin('/a/b', '/a/bc'));
  assert.ok(!isWithin('/a/b', '/a/b/../c'));
  assert.ok(!isWithin('/a/b', '/'));
});
