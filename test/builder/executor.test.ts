// The bubblewrap executor on real static busybox roots, one per Debian architecture, foreign ones
// through the kernel's binfmt_misc qemu handlers: what a step sees (machine, env, cwd, user,
// network, files) and what it leaves behind (its own writes only, nothing of the sandbox, no process).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createBubblewrapExecutor } from '../../src/builder/executor/bubblewrap.js';
import { resolveUser } from '../../src/builder/passwd.js';
import type { RunOptions } from '../../src/builder/executor/executor.js';
import { PolyarchError } from '../../src/errors/polyarch-error.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { BUSYBOX_ARCHES, busyboxRoot, copyBusyboxRoot, type BusyboxArch } from '../helpers/busybox.js';
import { tempDir } from '../helpers/temp-dir.js';

const executor = createBubblewrapExecutor();
const ENV = { PATH: '/bin', HOME: '/root' };

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString('utf8');
    callback();
  }
}

interface StepOutput {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function runIn(rootfs: string, args: readonly string[], options: Partial<Omit<RunOptions, 'rootfs' | 'stdout' | 'stderr'>> & { arch?: BusyboxArch } = {}): Promise<StepOutput> {
  const stdout = new Collect();
  const stderr = new Collect();
  const { arch = 'amd64', ...rest } = options;
  const result = await executor.run(
    { args },
    { platform: parsePlatform(BUSYBOX_ARCHES[arch].platform), env: ENV, cwd: '/', user: '', mounts: [], network: 'none', ...rest, rootfs, stdout, stderr },
  );
  return { exitCode: result.exitCode, stdout: stdout.text, stderr: stderr.text };
}

let scratch: { path: string; remove: () => Promise<void> };
let counter = 0;
async function freshRoot(arch: BusyboxArch = 'amd64'): Promise<string> {
  return copyBusyboxRoot(arch, join(scratch.path, `${arch}-${++counter}`));
}

before(async () => {
  scratch = await tempDir('polyarch-executor-');
});
after(async () => {
  await scratch.remove();
});

describe('each platform runs its own binaries', () => {
  for (const arch of Object.keys(BUSYBOX_ARCHES) as BusyboxArch[]) {
    test(`uname -m in the ${arch} busybox root says ${BUSYBOX_ARCHES[arch].machine}`, async () => {
      await busyboxRoot(arch);
      const how = (await ensureEmulation([arch])).get(arch);
      const rootfs = await freshRoot(arch);
      const out = await runIn(rootfs, ['uname', '-m'], { arch });
      assert.equal(out.stderr, '');
      assert.equal(out.exitCode, 0);
      // A 32-bit process on a 64-bit kernel reports the kernel's machine unless its personality says otherwise.
      const expected = arch === 'i386' && how === 'native' ? ['i686', 'x86_64'] : [BUSYBOX_ARCHES[arch].machine];
      assert.ok(expected.includes(out.stdout.trim()), `got ${JSON.stringify(out.stdout)} for ${arch} (${how})`);
    });
  }
});

describe('a step on the amd64 root', () => {
  test('its exit code comes back', async () => {
    const rootfs = await freshRoot();
    assert.equal((await runIn(rootfs, ['sh', '-c', 'exit 7'])).exitCode, 7);
    assert.equal((await runIn(rootfs, ['true'])).exitCode, 0);
    // Killed by a signal inside: 128 + n, as a shell reports it.
    assert.equal((await runIn(rootfs, ['sh', '-c', 'kill -9 $$'])).exitCode, 137);
  });

  test('a command that cannot be started exits as under docker run: 127 when it is not in the root, 126 when it cannot be run', async () => {
    for (const arch of ['amd64', 'arm64'] as const) {
      await ensureEmulation([arch]);
      const rootfs = await freshRoot(arch);
      await writeFile(join(rootfs, 'not-a-program'), 'plain text\n', { mode: 0o644 });
      const missing = await runIn(rootfs, ['/no/such/program'], { arch });
      assert.equal(missing.exitCode, 127, missing.stderr);
      assert.match(missing.stderr, /\/no\/such\/program: No such file or directory/);
      assert.equal((await runIn(rootfs, ['/not-a-program'], { arch })).exitCode, 126, arch);
      // A program that runs and fails keeps its code.
      assert.equal((await runIn(rootfs, ['sh', '-c', 'echo failing >&2; exit 1'], { arch })).exitCode, 1, arch);
      // Even one that prints bwrap's words about another program, or about itself among other output.
      assert.equal((await runIn(rootfs, ['sh', '-c', 'echo "bwrap: execvp foo: No such file or directory" >&2; exit 1'], { arch })).exitCode, 1, arch);
      assert.equal((await runIn(rootfs, ['sh', '-c', 'echo out; echo "bwrap: execvp sh: Permission denied" >&2; exit 1'], { arch })).exitCode, 1, arch);
    }
  });

  test('a sandbox bwrap cannot make (a directory mounted onto a file) exits 125, as docker run for its own failures', async () => {
    const rootfs = await freshRoot();
    const mounted = await runIn(rootfs, ['true'], { mounts: [{ type: 'bind', source: scratch.path, target: '/bin/busybox', readOnly: true }] });
    assert.equal(mounted.exitCode, 125, mounted.stderr);
    assert.match(mounted.stderr, /^bwrap: Can't mkdir \/bin\/busybox: Not a directory\n$/);
    // The same words among the command's own output keep its code.
    assert.equal((await runIn(rootfs, ['sh', '-c', 'echo out; echo "bwrap: Can\'t mkdir /x: Not a directory" >&2; exit 1'])).exitCode, 1);
  });

  test('standard input reaches the step; without one it reads end-of-file', async () => {
    const rootfs = await freshRoot();
    assert.equal((await runIn(rootfs, ['sh', '-c', 'cat; echo done'], { stdin: Readable.from(['hello ', 'step\n']) })).stdout, 'hello step\ndone\n');
    assert.equal((await runIn(rootfs, ['sh', '-c', 'cat; echo done'])).stdout, 'done\n');
    const big = 'x'.repeat(1 << 20);
    assert.equal((await runIn(rootfs, ['wc', '-c'], { stdin: Readable.from([big]) })).stdout.trim(), String(1 << 20));
  });

  test('its environment is exactly the one given, with PWD, and HOME when unset', async () => {
    const rootfs = await freshRoot();
    const env = { PATH: '/bin', A: 'one', EMPTY: '', SPACED: 'a b  c', HOME: '/given' };
    const out = await runIn(rootfs, ['/bin/env'], { env });
    // PWD is added: bubblewrap sets it to the working directory, as any shell would.
    assert.deepEqual(out.stdout.trim().split('\n').sort(), ['A=one', 'EMPTY=', 'HOME=/given', 'PATH=/bin', 'PWD=/', 'SPACED=a b  c']);
    // HOME, when not given, is root's from /etc/passwd (or /root without an entry).
    const inHome = await runIn(rootfs, ['/bin/env'], { env: { PATH: '/bin' }, cwd: '/home/app' });
    assert.deepEqual(inHome.stdout.trim().split('\n').sort(), ['HOME=/root', 'PATH=/bin', 'PWD=/home/app']);
  });

  test('working directory and user are applied, names read from the root’s passwd and group', async () => {
    const rootfs = await freshRoot();
    assert.equal((await runIn(rootfs, ['pwd'], { cwd: '/home/app' })).stdout, '/home/app\n');
    assert.equal((await runIn(rootfs, ['sh', '-c', 'id -u; id -g'], { user: 'app' })).stdout, '1000\n1000\n');
    assert.equal((await runIn(rootfs, ['sh', '-c', 'id -u; id -g'], { user: 'app:staff' })).stdout, '1000\n50\n');
    assert.equal((await runIn(rootfs, ['sh', '-c', 'id -u; id -g'], { user: '1234' })).stdout, '1234\n0\n');
    assert.equal((await runIn(rootfs, ['sh', '-c', 'id -u; id -g'], { user: '' })).stdout, '0\n0\n');
    await assert.rejects(runIn(rootfs, ['true'], { user: 'nosuch' }), (e: unknown) => e instanceof PolyarchError && e.code === 'NOT_FOUND' && /"nosuch"/.test(e.message));
    await assert.rejects(runIn(rootfs, ['true'], { cwd: '/missing' }), (e: unknown) => e instanceof PolyarchError && e.code === 'NOT_FOUND' && /\/missing/.test(e.message));
  });

  test('a passwd that is a symlink out of the root is read inside the root', async () => {
    const rootfs = await freshRoot();
    await rm(join(rootfs, 'etc', 'passwd'));
    // The host's passwd names "daemon"; followed naively, this link would reach it.
    await symlink('../../../../../../../../etc/passwd', join(rootfs, 'etc', 'passwd'));
    assert.ok((await readFile('/etc/passwd', 'utf8')).includes('\ndaemon:'));
    await assert.rejects(resolveUser(rootfs, 'daemon'), (e: unknown) => e instanceof PolyarchError && e.code === 'NOT_FOUND');
    assert.deepEqual(await resolveUser(rootfs, '7'), { uid: 7, gid: 0, groups: [] });
  });

  test('network none has nothing but lo; default has the host’s interfaces', async () => {
    const rootfs = await freshRoot();
    const none = await runIn(rootfs, ['ip', '-o', 'link'], { network: 'none' });
    assert.equal(none.exitCode, 0);
    const names = (text: string): string[] => text.trim().split('\n').map((line) => line.split(':')[1]?.trim().split('@')[0] ?? '');
    assert.deepEqual(names(none.stdout), ['lo']);
    const host = await runIn(rootfs, ['ip', '-o', 'link'], { network: 'default' });
    const hostNames = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout;
    assert.deepEqual(names(host.stdout).sort(), names(hostNames).sort());
  });

  test('the host’s filesystem is invisible', async () => {
    const rootfs = await freshRoot();
    const name = `polyarch-marker-${randomBytes(6).toString('hex')}`;
    await writeFile(join('/tmp', name), 'secret');
    await writeFile(join('/root', name), 'secret');
    try {
      for (const dir of ['/tmp', '/root']) {
        const read = await runIn(rootfs, ['cat', `${dir}/${name}`]);
        assert.notEqual(read.exitCode, 0);
        assert.equal(read.stdout, '');
        assert.match(read.stderr, /No such file or directory/);
      }
      const listed = await runIn(rootfs, ['ls', '-a', '/tmp', '/root', '/home']);
      assert.ok(!listed.stdout.includes(name) && !listed.stdout.includes('polyarch'), listed.stdout);
      const top = (await runIn(rootfs, ['ls', '/'])).stdout.trim().split('\n').sort();
      assert.deepEqual(top, ['bin', 'dev', 'etc', 'home', 'proc', 'root', 'tmp']);
    } finally {
      await rm(join('/tmp', name), { force: true });
      await rm(join('/root', name), { force: true });
    }
  });

  test('a write to / lands in the root directory and nowhere else; the sandbox’s mount points do not stay', async () => {
    const rootfs = await freshRoot();
    const name = `written-${randomBytes(6).toString('hex')}`;
    const out = await runIn(rootfs, ['sh', '-c', `echo hi > /${name}; echo tmp > /tmp/${name}; cat /etc/hosts; cat /etc/resolv.conf`], { network: 'none' });
    assert.equal(out.exitCode, 0, out.stderr);
    assert.match(out.stdout, /127\.0\.0\.1\s+localhost/);
    assert.equal(await readFile(join(rootfs, name), 'utf8'), 'hi\n');
    assert.equal(await readFile(join(rootfs, 'tmp', name), 'utf8'), 'tmp\n');
    assert.equal(existsSync(join('/', name)), false);
    assert.equal(existsSync(join('/tmp', name)), false);
    // /proc, /dev, /etc/resolv.conf and /etc/hosts were mount points only.
    assert.deepEqual((await readdir(rootfs)).sort(), ['bin', 'etc', 'home', name, 'root', 'tmp'].sort());
    assert.deepEqual((await readdir(join(rootfs, 'etc'))).sort(), ['group', 'passwd']);
  });

  test('resolv.conf and hosts are the ones given, and the root’s own files stay as they were', async () => {
    const rootfs = await freshRoot();
    await writeFile(join(rootfs, 'etc', 'hosts'), 'image hosts\n');
    const out = await runIn(rootfs, ['sh', '-c', 'cat /etc/resolv.conf /etc/hosts; echo x >> /etc/hosts'], {
      network: 'default',
      resolvConf: 'nameserver 192.0.2.53\n',
      hosts: '127.0.0.1 localhost given\n',
    });
    assert.equal(out.stdout, 'nameserver 192.0.2.53\n127.0.0.1 localhost given\n');
    assert.notEqual(out.exitCode, 0, 'the provided hosts file is read-only');
    assert.equal(await readFile(join(rootfs, 'etc', 'hosts'), 'utf8'), 'image hosts\n');
    assert.equal(existsSync(join(rootfs, 'etc', 'resolv.conf')), false);
  });

  test('a resolv.conf that links out of the root is mounted over inside the root', async () => {
    const rootfs = await freshRoot();
    const hostFile = join(scratch.path, `outside-${randomBytes(4).toString('hex')}`);
    await symlink(`/../../../../..${hostFile}`, join(rootfs, 'etc', 'resolv.conf'));
    const out = await runIn(rootfs, ['cat', '/etc/resolv.conf'], { network: 'default', resolvConf: 'nameserver 192.0.2.1\n' });
    assert.equal(out.stdout, 'nameserver 192.0.2.1\n');
    assert.equal(existsSync(hostFile), false);
    assert.ok((await lstat(join(rootfs, 'etc', 'resolv.conf'))).isSymbolicLink());
  });

  test('mounts: bind read-only and read-write, tmpfs, data', async () => {
    const rootfs = await freshRoot();
    const shared = join(scratch.path, `shared-${++counter}`);
    await mkdir(shared);
    await writeFile(join(shared, 'in'), 'from host\n');
    const out = await runIn(rootfs, ['sh', '-c', 'cat /ro/in; echo no > /ro/new; echo yes > /rw/new; echo t > /scratch/t; cat /run/secrets/s; stat -c %a /run/secrets/s'], {
      mounts: [
        { type: 'bind', source: shared, target: '/ro', readOnly: true },
        { type: 'bind', source: shared, target: '/rw', readOnly: false },
        { type: 'tmpfs', target: '/scratch' },
        { type: 'data', target: '/run/secrets/s', content: 'hunter2\n' },
      ],
    });
    assert.equal(out.stdout, 'from host\nhunter2\n400\n');
    assert.equal(await readFile(join(shared, 'new'), 'utf8'), 'yes\n');
    assert.deepEqual((await readdir(rootfs)).sort(), ['bin', 'etc', 'home', 'root', 'tmp']);
  });

  test('root inside is root on the files: chown works and owners land on disk', async () => {
    if (process.getuid?.() !== 0) return; // the identity mapping is for root callers; others are documented as single-id
    const rootfs = await freshRoot();
    const out = await runIn(rootfs, ['sh', '-c', 'touch /a /b && chown 42:43 /b && stat -c %u:%g /home/app']);
    assert.equal(out.exitCode, 0, out.stderr);
    assert.equal(out.stdout, '1000:1000\n');
    const a = await stat(join(rootfs, 'a'));
    const b = await stat(join(rootfs, 'b'));
    assert.deepEqual([a.uid, a.gid, b.uid, b.gid], [0, 0, 42, 43]);
  });

  test('a non-root USER run by root writes files owned by that user, with its supplementary groups', async () => {
    if (process.getuid?.() !== 0) return; // root callers only
    const rootfs = await freshRoot();
    await writeFile(join(rootfs, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nstaff:x:50:app\nwheel:x:10:root\n');
    // A file only group staff may write: the supplementary group counts (inside bwrap's own
    // namespace `id` shows it as nobody, 65534, as no group but the primary one is mapped there).
    await writeFile(join(rootfs, 'staff-only'), '');
    spawnSync('chown', ['0:50', join(rootfs, 'staff-only')]);
    spawnSync('chmod', ['0660', join(rootfs, 'staff-only')]);
    const asApp = await runIn(rootfs, ['sh', '-c', 'id -u; id -g; touch /home/app/f && mkdir /home/app/d && echo ok; touch /not-mine 2>/dev/null || echo denied; echo staff >> /staff-only && echo grouped'], { user: 'app' });
    assert.equal(asApp.exitCode, 0, asApp.stderr);
    assert.deepEqual(asApp.stdout.trim().split('\n'), ['1000', '1000', 'ok', 'denied', 'grouped']);
    assert.equal(await readFile(join(rootfs, 'staff-only'), 'utf8'), 'staff\n');
    const outsider = await runIn(rootfs, ['sh', '-c', 'echo x >> /staff-only || echo denied'], { user: '1234' });
    assert.equal(outsider.stdout, 'denied\n');
    for (const name of ['f', 'd']) {
      const facts = await stat(join(rootfs, 'home', 'app', name));
      assert.deepEqual([facts.uid, facts.gid], [1000, 1000], name);
    }
    assert.equal(existsSync(join(rootfs, 'not-mine')), false);
    // Root gets the groups /etc/group lists it in; USER uid:gid names them exactly.
    assert.deepEqual((await runIn(rootfs, ['id', '-G'])).stdout.trim().split(' ').sort(), ['0', '10']);
    assert.equal((await runIn(rootfs, ['sh', '-c', 'id -u; id -G'], { user: '0:50' })).stdout, '0\n50\n');
    assert.equal((await runIn(rootfs, ['sh', '-c', 'id -u; id -g'], { user: 'app:staff' })).stdout, '1000\n50\n');
    // The root dir of a stage may sit below directories only root can enter: the USER still runs.
    const hidden = join(scratch.path, `hidden-${++counter}`);
    await mkdir(hidden, { mode: 0o700 });
    const deep = await copyBusyboxRoot('amd64', join(hidden, 'root'));
    const bound = join(hidden, 'bound');
    await mkdir(bound, { mode: 0o755 });
    await writeFile(join(bound, 'in'), 'bound\n');
    const out = await runIn(deep, ['sh', '-c', 'cat /b/in; touch /home/app/g'], { user: 'app', mounts: [{ type: 'bind', source: bound, target: '/b', readOnly: true }] });
    assert.equal(out.exitCode, 0, out.stderr);
    assert.equal(out.stdout, 'bound\n');
    assert.equal((await stat(join(deep, 'home', 'app', 'g'))).uid, 1000);
    assert.deepEqual((await readdir(deep)).sort(), ['bin', 'etc', 'home', 'root', 'tmp']);
  });

  test('run by an ordinary user: the step is root (or its USER) over the caller’s files, and what it creates is the caller’s', async () => {
    if (process.getuid?.() !== 0) return; // needs root to become someone else
    // A world-readable place the ordinary user (nobody) can reach, holding its own copy of the root.
    const place = join('/tmp', `polyarch-executor-nobody-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(place, { mode: 0o755 });
      const rootfs = await copyBusyboxRoot('amd64', join(place, 'root'));
      spawnSync('chown', ['-R', '65534:65534', rootfs]);
      const module = new URL('../../src/builder/executor/bubblewrap.js', import.meta.url).href;
      const script = `
        import { createBubblewrapExecutor } from ${JSON.stringify(module)};
        const ex = createBubblewrapExecutor();
        for (const user of ['', 'app']) {
          const r = await ex.run({ args: ['sh', '-c', 'id -u; stat -c %u /bin/busybox; touch /by-' + (user || 'root')] },
            { rootfs: ${JSON.stringify(rootfs)}, platform: { os: 'linux', architecture: 'amd64' }, env: { PATH: '/bin' }, cwd: '/', user, mounts: [], network: 'none', stdout: process.stdout, stderr: process.stderr });
          process.stdout.write('exit ' + r.exitCode + '\\n');
        }`;
      const child = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
      assert.equal(child.status, 0, child.stderr);
      // Inside: the one mapped id is the step's; the caller's files appear as that id.
      assert.equal(child.stdout, '0\n0\nexit 0\n1000\n1000\nexit 0\n');
      // On disk: whatever the step made belongs to the caller.
      for (const name of ['by-root', 'by-app']) assert.equal((await stat(join(rootfs, name))).uid, 65534);
      assert.deepEqual((await readdir(rootfs)).sort(), ['bin', 'by-app', 'by-root', 'etc', 'home', 'root', 'tmp']);
    } finally {
      await rm(place, { recursive: true, force: true });
    }
  });

  test('aborting kills the step and everything it started, at once', async () => {
    for (const arch of ['amd64', 'arm64'] as const) {
      await ensureEmulation([arch]);
      const rootfs = await freshRoot(arch);
      const marker = `${1000 + Math.floor(Math.random() * 8000)}`;
      const controller = new AbortController();
      const started = Date.now();
      const running = runIn(rootfs, ['sh', '-c', `sleep ${marker} & sleep ${marker}; echo never`], { arch, signal: controller.signal });
      await new Promise((resolve) => setTimeout(resolve, 700));
      assert.equal(spawnSync('pgrep', ['-f', `sleep ${marker}`]).status, 0, 'the step is running');
      controller.abort();
      await assert.rejects(running, (e: unknown) => e instanceof Error && e.name === 'AbortError');
      assert.ok(Date.now() - started < 10_000);
      // The pid namespace's processes are gone by the time run() settles, or a moment later.
      let left = true;
      for (let i = 0; i < 50 && left; i++) {
        left = spawnSync('pgrep', ['-f', `sleep ${marker}`]).status === 0;
        if (left) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(left, false, `no "sleep ${marker}" left for ${arch}`);
    }
  });

  test('an already aborted signal starts nothing', async () => {
    const rootfs = await freshRoot();
    await assert.rejects(runIn(rootfs, ['touch', '/x'], { signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(existsSync(join(rootfs, 'x')), false);
  });

  test('a missing bwrap is one line naming the Debian package', async () => {
    const rootfs = await freshRoot();
    const missing = createBubblewrapExecutor({ program: 'bwrap-not-installed' });
    await assert.rejects(
      missing.run({ args: ['true'] }, { rootfs, platform: parsePlatform('linux/amd64'), env: ENV, cwd: '/', user: 'app', mounts: [], network: 'none', stdout: new Collect(), stderr: new Collect() }),
      (e: unknown) => e instanceof PolyarchError && e.code === 'NOT_FOUND' && /bubblewrap/.test(e.message) && !e.message.includes('\n'),
    );
    assert.deepEqual((await readdir(rootfs)).sort(), ['bin', 'etc', 'home', 'root', 'tmp']);
  });

  test('a command missing in the root fails the step, not the executor', async () => {
    const rootfs = await freshRoot();
    const out = await runIn(rootfs, ['/no/such/program']);
    assert.notEqual(out.exitCode, 0);
    assert.match(out.stderr, /no\/such\/program/);
  });
});
