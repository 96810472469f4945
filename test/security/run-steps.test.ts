// RUN steps as a way in: real `polyarch build`s on hostile amd64 busybox bases, each asserting
// that the host is untouched. A step sees nothing of the host's /tmp or the caller's environment
// and writes nowhere but its root; a base whose /etc, /tmp, /proc, /dev, resolv.conf, hosts or
// passwd are links to host paths gets its mounts and lookups inside the root; WORKDIR and COPY
// through links a base or an earlier step made land inside the root; USER values that are no
// identity stop the build with one line.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { storeBaseIndex } from '../helpers/base-images.js';
import { buildSuite } from '../helpers/build-suite.js';
import { copyBusyboxRoot } from '../helpers/busybox.js';
import { runCli, withoutProgress } from '../helpers/run-cli.js';

describe('RUN steps against the host', { timeout: 600_000 }, () => {
  const suite = buildSuite();
  const tag = randomBytes(6).toString('hex');
  /** A host directory hostile links point at: it must stay empty. */
  let hostDir = '';
  /** A host file no step may read. */
  const marker = `/tmp/polyarch-marker-${tag}`;
  let counter = 0;

  before(async () => {
    hostDir = await mkdtemp('/tmp/polyarch-host-');
    await writeFile(marker, 'host secret\n');
  });
  after(async () => {
    await rm(hostDir, { recursive: true, force: true });
    await rm(marker, { force: true });
  });

  /** Nothing appeared in the host directory, and no file named for this run outside it. */
  async function assertHostUntouched(): Promise<void> {
    assert.deepEqual(await readdir(hostDir), []);
    const strays = (await readdir('/tmp')).filter((name) => name.includes(tag) && `/tmp/${name}` !== marker);
    assert.deepEqual(strays, []);
    assert.equal(existsSync(`/${tag}`), false);
    assert.equal(await readFile(marker, 'utf8'), 'host secret\n');
  }

  /** A single-platform base pushed to the suite's registry: the busybox root as `edit` leaves it. */
  async function base(edit: (root: string) => Promise<void>): Promise<string> {
    const name = `base${++counter}`;
    const root = await copyBusyboxRoot('amd64', join(suite.dir.path, name));
    await edit(root);
    const location = `${suite.reg.host}/${name}:1`;
    await storeBaseIndex(location, [{ platform: 'linux/amd64', dir: root }], { config: { Env: ['PATH=/bin'] } });
    return location;
  }

  async function build(dockerfile: string, files: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}) {
    const ctx = join(suite.dir.path, `ctx${++counter}`);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    for (const [path, content] of Object.entries(files)) await writeFile(join(ctx, path), content);
    const dest = join(suite.dir.path, `out${counter}`);
    const out = await runCli(['build', '--platform', 'linux/amd64', '-o', `type=local,dest=${dest}`, ctx], { env: { ...suite.env, ...env }, cwd: ctx });
    return { ...out, dest };
  }

  /** A failed build: the exit code, one line naming `pattern`, and no output directory. */
  function assertRefused(out: { code: number; stderr: string; dest: string }, code: number, pattern: RegExp): void {
    assert.equal(out.code, code, out.stderr);
    assert.equal(withoutProgress(out.stderr).trim().split('\n').length, 1, out.stderr);
    assert.match(out.stderr, pattern);
    assert.doesNotMatch(out.stderr, /\n\s+at /);
    assert.equal(existsSync(out.dest), false);
  }

  test("the sandbox: no host /tmp, none of the caller's environment, no write outside the root", async () => {
    const from = await base(async () => undefined);
    const out = await build(
      [
        `FROM ${from}`,
        `RUN (cat ${marker} 2>&1 || true) > /seen-tmp; env | sort > /seen-env; ls /proc/1/root/ > /seen-pid1`,
        `RUN echo 1 > /proc/1/root/tmp/escape-${tag}-1; echo 2 > ../../../../../tmp/escape-${tag}-2; cd /tmp && echo 3 > ../../../tmp/escape-${tag}-3; echo 4 > /proc/self/root/tmp/escape-${tag}-4; echo 5 > /proc/self/cwd/../../escape-${tag}-5; true`,
        '',
      ].join('\n'),
      {},
      { POLYARCH_CALLER_SECRET: `secret-${tag}` },
    );
    assert.equal(out.code, 0, out.stderr);
    assert.match(await readFile(join(out.dest, 'seen-tmp'), 'utf8'), /No such file or directory/);
    const env = await readFile(join(out.dest, 'seen-env'), 'utf8');
    assert.ok(!env.includes(tag) && !env.includes('POLYARCH_CALLER_SECRET') && !env.includes('XDG_CACHE_HOME'), env);
    // pid 1 is the sandbox's own: its root is the step's root.
    assert.deepEqual((await readFile(join(out.dest, 'seen-pid1'), 'utf8')).trim().split('\n').sort(), ['bin', 'dev', 'etc', 'home', 'proc', 'root', 'seen-env', 'seen-pid1', 'seen-tmp', 'tmp']);
    // Every escape landed inside the root, and so in the image.
    for (const n of [1, 2, 3, 4]) assert.equal(await readFile(join(out.dest, 'tmp', `escape-${tag}-${n}`), 'utf8'), `${n}\n`);
    assert.equal(await readFile(join(out.dest, `escape-${tag}-5`), 'utf8'), '5\n');
    await assertHostUntouched();
  });

  test("a base whose /etc/passwd links to the host's: USER names resolve in the image only", async () => {
    assert.match(await readFile('/etc/passwd', 'utf8'), /^daemon:/m, 'the host has a daemon user');
    const from = await base(async (root) => {
      await rm(join(root, 'etc', 'passwd'));
      await symlink('/etc/passwd', join(root, 'etc', 'passwd'));
      await rm(join(root, 'etc', 'group'));
      await symlink('../../../../../../../etc/group', join(root, 'etc', 'group'));
    });
    assertRefused(await build(`FROM ${from}\nUSER daemon\nRUN id > /id\n`), 2, /Dockerfile:3: cannot run as user "daemon": no such user in the image's \/etc\/passwd \[USAGE\]$/m);
    assertRefused(await build(`FROM ${from}\nCOPY --chown=daemon f /f\n`, { f: 'x' }), 2, /--chown=daemon: user "daemon" is not in the image's \/etc\/passwd/);
    const numeric = await build(`FROM ${from}\nUSER 1:1\nRUN (cat /etc/passwd 2>&1 || true) > /tmp/passwd; id -u > /tmp/id\n`);
    assert.equal(numeric.code, 0, numeric.stderr);
    assert.doesNotMatch(await readFile(join(numeric.dest, 'tmp', 'passwd'), 'utf8'), /daemon/);
    assert.equal(await readFile(join(numeric.dest, 'tmp', 'id'), 'utf8'), '1\n');
    await assertHostUntouched();
  });

  test('a base whose /etc, /proc, /dev, resolv.conf and hosts link to host paths: mounts stay inside the root', async () => {
    const etcLinked = await base(async (root) => {
      await rm(join(root, 'etc'), { recursive: true });
      await symlink(hostDir, join(root, 'etc'));
    });
    const one = await build(`FROM ${etcLinked}\nRUN cat /etc/hosts > /hosts-seen && echo written > /etc/written\n`);
    assert.equal(one.code, 0, one.stderr);
    assert.match(await readFile(join(one.dest, 'hosts-seen'), 'utf8'), /localhost/);
    assert.equal(await readFile(join(one.dest, hostDir, 'written'), 'utf8'), 'written\n');
    await assertHostUntouched();

    const others = await base(async (root) => {
      await symlink(join(hostDir, 'proc'), join(root, 'proc'));
      await symlink(`../../../..${hostDir}/dev`, join(root, 'dev'));
      await symlink(join(hostDir, 'resolv.conf'), join(root, 'etc', 'resolv.conf'));
      await symlink(join(hostDir, 'hosts'), join(root, 'etc', 'hosts'));
    });
    const two = await build(`FROM ${others}\nRUN cat /etc/hosts /proc/self/stat > /seen && echo x > /dev/null && ls /dev > /dev-seen\n`);
    assert.equal(two.code, 0, two.stderr);
    assert.match(await readFile(join(two.dest, 'seen'), 'utf8'), /localhost/);
    assert.match(await readFile(join(two.dest, 'dev-seen'), 'utf8'), /null/);
    // The links are the image's and stay; the mount points made for the step do not.
    assert.equal(existsSync(join(two.dest, hostDir)), false);
    assert.ok((await lstat(join(two.dest, 'proc'))).isSymbolicLink());
    await assertHostUntouched();

    const tmpLinked = await base(async (root) => {
      await rm(join(root, 'tmp'), { recursive: true });
      await symlink(hostDir, join(root, 'tmp'));
    });
    const three = await build(`FROM ${tmpLinked}\nRUN (echo y > /tmp/y || true) && echo done > /done\n`);
    assert.equal(three.code, 0, three.stderr);
    await assertHostUntouched();

    // /proc through that loop: one line, nothing mounted anywhere.
    const looped = await base(async (root) => {
      await rm(join(root, 'tmp'), { recursive: true });
      await symlink(hostDir, join(root, 'tmp'));
      await symlink(join(hostDir, 'proc'), join(root, 'proc'));
    });
    assertRefused(await build(`FROM ${looped}\nRUN true\n`), 1, /cannot mount at "\/proc" in the image: its path is a loop of symbolic links \[NOT_FOUND\]$/m);
    assertRefused(await build(`FROM ${looped}\nWORKDIR /tmp/w\nRUN true\n`), 1, /cannot make working directory "\/tmp\/w": its path in the image is a loop of symbolic links/);
    await assertHostUntouched();
  });

  test('WORKDIR through a link that leaves the root is made inside it', async () => {
    const from = await base(async (root) => {
      await symlink(hostDir, join(root, 'out'));
    });
    const out = await build(`FROM ${from}\nWORKDIR /out/w\nRUN touch here && pwd > /pwd\n`);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await readFile(join(out.dest, 'pwd'), 'utf8'), '/out/w\n');
    assert.ok(existsSync(join(out.dest, hostDir, 'w', 'here')));
    await assertHostUntouched();
  });

  test('RUN then COPY and RUN through links a step made land inside the root', async () => {
    const from = await base(async () => undefined);
    const out = await build(
      [
        `FROM ${from}`,
        `RUN ln -s / /escape && ln -s ${hostDir} /escape2 && ln -s ../../../../.. /up`,
        `COPY f /escape/tmp/copied-${tag}`,
        'COPY f /escape2/copied',
        `COPY f /up/tmp/up-${tag}`,
        `RUN echo ran > /escape/tmp/ran-${tag} && echo ran > /escape2/ran`,
        '',
      ].join('\n'),
      { f: 'from the context\n' },
    );
    assert.equal(out.code, 0, out.stderr);
    // COPY and RUN both follow the links inside the image's root, as BuildKit does: each file is
    // where the link leads there (the host path's namesake inside the image), never on the host.
    const found = spawnSync('find', [out.dest, '-type', 'f', '(', '-name', `*-${tag}`, '-o', '-name', 'copied', '-o', '-name', 'ran', ')'], { encoding: 'utf8' }).stdout.trim().split('\n').sort();
    const inside = [`/tmp/copied-${tag}`, `${hostDir}/copied`, `/tmp/up-${tag}`, `/tmp/ran-${tag}`, `${hostDir}/ran`].map((p) => `${out.dest}${p}`).sort();
    assert.deepEqual(found, inside);
    await assertHostUntouched();
  });

  test('USER values that are no identity stop the build with one line', async () => {
    const from = await base(async () => undefined);
    assertRefused(await build(`FROM ${from}\nUSER 4294967295\nRUN true\n`), 2, /Dockerfile:3: cannot run as user "4294967295": ids must be at most 4294967294 \[USAGE\]$/m);
    assertRefused(await build(`FROM ${from}\nUSER 99999999999999999999999\nRUN true\n`), 2, /ids must be at most 4294967294/);
    assertRefused(await build(`FROM ${from}\nUSER -1\nRUN true\n`), 2, /cannot run as user "-1": no such user/);
    assertRefused(await build(`FROM ${from}\nUSER app:-5\nRUN true\n`), 2, /cannot run as group "-5": no such group/);
    assertRefused(await build(`FROM ${from}\nUSER nosuch\nRUN true\n`), 2, /cannot run as user "nosuch": no such user in the image's \/etc\/passwd/);
    // A JSON form's \u0000, which no program's argument can hold, names its line (it was Node's own TypeError).
    assertRefused(await build(`FROM ${from}\nRUN ["echo", "a\\u0000b"]\n`), 2, /Dockerfile:2: RUN: word 2 of the command holds a NUL byte \[USAGE\]$/m);
    // A passwd grown past the bound by a step: the next lookup refuses it instead of reading it.
    const big = await build(`FROM ${from}\nRUN dd if=/dev/zero of=/etc/passwd bs=1 count=0 seek=5242880 2>/dev/null\nUSER app\nRUN true\n`);
    assertRefused(big, 2, /the image's \/etc\/passwd is larger than 4194304 bytes/);
    await assertHostUntouched();
  });
});
