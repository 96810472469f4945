// The one reader of an image's /etc/passwd and /etc/group (USER and COPY --chown): what docker
// derives from them, which lines count, and the hostile files (links out of the root, a fifo, a
// file larger than the bound) on a real directory.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, open, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MAX_ID, MAX_ID_FILE_BYTES, lookupOwner, lookupUser, parseGroup, parseId, parsePasswd, readIdFile, resolveUser } from '../../src/builder/passwd.js';
import { PolyarchError } from '../../src/errors/polyarch-error.js';
import { tempDir } from '../helpers/temp-dir.js';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'app:x:1000:1000:app:/home/app:/bin/sh',
  '# a comment',
  'short:x:5',
  'neg:x:-1:0::/:/bin/sh',
  'huge:x:4294967295:0::/:/bin/sh',
  'hex:x:0x10:0::/:/bin/sh',
  ':x:7:7::/:/bin/sh',
  'max:x:4294967294:4294967294::/max:/bin/sh',
  'crlf:x:7:8::/crlf:/bin/sh\r',
  'nohome:x:9:9:::/bin/sh',
  '',
].join('\n');
const GROUP = ['root:x:0:', 'app:x:1000:', 'staff:x:50:app,other', 'audio:x:29:app', 'bad:x:abc:app', 'wheel:x:10:root', 'again:x:50:app'].join('\n');
const read = (path: '/etc/passwd' | '/etc/group'): Promise<string | undefined> => Promise.resolve(path === '/etc/passwd' ? PASSWD : GROUP);

describe('passwd and group parsing', () => {
  test('ids: decimal 0..2^32-2 only', () => {
    for (const [text, id] of [['0', 0], ['1000', 1000], ['4294967294', MAX_ID]] as const) assert.equal(parseId(text), id, text);
    for (const text of ['', '-1', '4294967295', '99999999999', '0x10', ' 1', '1 ', '1e3', '+1']) assert.equal(parseId(text), undefined, text);
  });

  test('valid lines are read, malformed ones skipped', () => {
    assert.deepEqual(
      parsePasswd(PASSWD).map((e) => [e.name, e.uid, e.gid, e.home]),
      [
        ['root', 0, 0, '/root'],
        ['app', 1000, 1000, '/home/app'],
        ['max', MAX_ID, MAX_ID, '/max'],
        ['crlf', 7, 8, '/crlf'],
        ['nohome', 9, 9, ''],
      ],
    );
    assert.deepEqual(parseGroup(GROUP).map((g) => [g.name, g.gid, g.members]), [
      ['root', 0, []],
      ['app', 1000, []],
      ['staff', 50, ['app', 'other']],
      ['audio', 29, ['app']],
      ['wheel', 10, ['root']],
      ['again', 50, ['app']],
    ]);
  });

  test('USER as docker reads it: names, numbers, groups, supplementary groups', async () => {
    assert.deepEqual(await lookupUser('', read), { uid: 0, gid: 0, groups: [10], home: '/root' });
    // No passwd: no home to give (HOME is then /, runc's default).
    assert.deepEqual(await lookupUser('', () => Promise.resolve(undefined)), { uid: 0, gid: 0, groups: [] });
    assert.deepEqual(await lookupUser('app', read), { uid: 1000, gid: 1000, groups: [50, 29], home: '/home/app' });
    assert.deepEqual(await lookupUser('1000', read), { uid: 1000, gid: 1000, groups: [50, 29], home: '/home/app' });
    assert.deepEqual(await lookupUser('app:staff', read), { uid: 1000, gid: 50, groups: [], home: '/home/app' });
    assert.deepEqual(await lookupUser('app:7', read), { uid: 1000, gid: 7, groups: [], home: '/home/app' });
    assert.deepEqual(await lookupUser('1234', read), { uid: 1234, gid: 0, groups: [] });
    assert.deepEqual(await lookupUser('4294967294:4294967294', read), { uid: MAX_ID, gid: MAX_ID, groups: [], home: '/max' });
    assert.deepEqual(await lookupUser('nohome', read), { uid: 9, gid: 9, groups: [] });
  });

  test('USER values that are no identity: one clear line each', async () => {
    const bad: readonly [string, string, RegExp][] = [
      ['nosuch', 'NOT_FOUND', /"nosuch": no such user in the image's \/etc\/passwd/],
      ['app:nogroup', 'NOT_FOUND', /"nogroup": no such group in the image's \/etc\/group/],
      ['4294967295', 'USAGE', /ids must be at most 4294967294/],
      ['99999999999999999999', 'USAGE', /ids must be at most/],
      ['app:4294967295', 'USAGE', /ids must be at most/],
      ['-1', 'NOT_FOUND', /"-1": no such user/],
      [':50', 'USAGE', /no user before the ":"/],
      ['a b', 'USAGE', /not a name or an id/],
    ];
    for (const [user, code, message] of bad) {
      await assert.rejects(lookupUser(user, read), (e: unknown) => e instanceof PolyarchError && e.code === code && message.test(e.message) && !e.message.includes('\n'), user);
    }
  });

  test('COPY --chown: names and numbers; a user alone gives the same number as group', async () => {
    assert.deepEqual(await lookupOwner('app', read), { uid: 1000, gid: 1000 });
    assert.deepEqual(await lookupOwner('app:staff', read), { uid: 1000, gid: 50 });
    assert.deepEqual(await lookupOwner('42', read), { uid: 42, gid: 42 });
    assert.deepEqual(await lookupOwner('42:43', read), { uid: 42, gid: 43 });
    assert.match(String(await lookupOwner('nosuch', read)), /user "nosuch" is not in the image's \/etc\/passwd/);
    assert.match(String(await lookupOwner('app:nosuch', read)), /group "nosuch" is not in the image's \/etc\/group/);
    assert.match(String(await lookupOwner('4294967295', read)), /ids must be at most/);
    assert.match(String(await lookupOwner('app:', read)), /needs user\[:group\]/);
  });
});

describe('passwd and group files in a hostile root', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir('polyarch-passwd-')));
  after(async () => dir.remove());

  async function root(name: string): Promise<string> {
    const path = join(dir.path, name);
    await mkdir(join(path, 'etc'), { recursive: true });
    return path;
  }

  test("a passwd linking to the host's is read inside the root", async () => {
    const r = await root('link');
    await symlink('/etc/passwd', join(r, 'etc', 'passwd'));
    await writeFile(join(r, 'etc', 'shadow-of-passwd'), 'x');
    assert.equal(await readIdFile(r, '/etc/passwd'), undefined);
    await assert.rejects(resolveUser(r, 'daemon'), (e: unknown) => e instanceof PolyarchError && e.code === 'NOT_FOUND');
    // A link that stays inside the root is followed.
    await mkdir(join(r, 'real'));
    await writeFile(join(r, 'real', 'passwd'), 'svc:x:77:78::/srv:/bin/sh\n');
    const inside = await root('inside');
    await mkdir(join(inside, 'real'));
    await writeFile(join(inside, 'real', 'passwd'), 'svc:x:77:78::/srv:/bin/sh\n');
    await symlink('../../../../real/passwd', join(inside, 'etc', 'passwd'));
    assert.deepEqual(await resolveUser(inside, 'svc'), { uid: 77, gid: 78, groups: [], home: '/srv' });
  });

  test('a fifo, a directory or a link loop in its place is no file (and nothing hangs)', async () => {
    const fifo = await root('fifo');
    assert.equal(spawnSync('mkfifo', [join(fifo, 'etc', 'passwd')]).status, 0);
    assert.equal(await readIdFile(fifo, '/etc/passwd'), undefined);
    assert.deepEqual(await resolveUser(fifo, '5'), { uid: 5, gid: 0, groups: [] });
    const directory = await root('directory');
    await mkdir(join(directory, 'etc', 'passwd'));
    assert.equal(await readIdFile(directory, '/etc/passwd'), undefined);
    const loop = await root('loop');
    await symlink('group', join(loop, 'etc', 'passwd'));
    await symlink('passwd', join(loop, 'etc', 'group'));
    assert.equal(await readIdFile(loop, '/etc/passwd'), undefined);
  });

  test('a 2 GB passwd is refused in one line without being read into memory', async () => {
    const big = await root('big');
    const handle = await open(join(big, 'etc', 'passwd'), 'w');
    await handle.write('app:x:1000:1000::/home/app:/bin/sh\n');
    await handle.truncate(2 * 1024 * 1024 * 1024); // sparse: costs no disk
    await handle.close();
    const before = process.memoryUsage().rss;
    await assert.rejects(resolveUser(big, 'app'), (e: unknown) => e instanceof PolyarchError && e.code === 'USAGE' && e.message.includes(`larger than ${MAX_ID_FILE_BYTES} bytes`) && !e.message.includes('\n'));
    assert.ok(process.memoryUsage().rss - before < 64 * 1024 * 1024, 'memory stays bounded');
    // Root needs no lookup: it still runs.
    assert.deepEqual(await resolveUser(big, ''), { uid: 0, gid: 0, groups: [] });
  });
});
