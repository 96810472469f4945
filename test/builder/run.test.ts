// RUN in `polyarch build`, on a multi-arch static busybox base made here: each platform's step runs
// on its own machine (foreign ones through the kernel's qemu handlers), its changes become a layer
// (deletions as whiteouts), RUN and COPY layers interleave, and a failing step stops the build.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { buildSuite } from '../helpers/build-suite.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { BUSYBOX_ARCHES, type BusyboxArch } from '../helpers/busybox.js';
import { storeBusyboxIndex } from '../helpers/busybox-index.js';
import { runCli, withoutProgress } from '../helpers/run-cli.js';

const exec = promisify(execFile);
const ARCHES: readonly BusyboxArch[] = ['amd64', 'arm64', 'armhf', 'ppc64el'];
const PLATFORMS = ARCHES.map((a) => BUSYBOX_ARCHES[a].platform).join(',');

describe('RUN', { timeout: 600_000 }, () => {
  const suite = buildSuite();
  let base = '';

  // One image per architecture, each a single layer holding the busybox root and /etc/base-file.
  before(async () => {
    await ensureEmulation(ARCHES);
    base = `${suite.reg.host}/busybox:multi`;
    await storeBusyboxIndex(base, ARCHES, suite.dir.path);
  });

  async function build(name: string, dockerfile: string, files: Record<string, string> = {}, platforms = PLATFORMS) {
    const ctx = join(suite.dir.path, name);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    for (const [path, content] of Object.entries(files)) await writeFile(join(ctx, path), content);
    const dest = join(suite.dir.path, `${name}-out`);
    const out = await runCli(['build', '--platform', platforms, '-o', `type=local,dest=${dest}`, ctx], { env: suite.env, cwd: ctx });
    return { ...out, dest };
  }

  const dirOf = (arch: BusyboxArch) => BUSYBOX_ARCHES[arch].platform.replaceAll('/', '_');

  test('each platform runs its own machine: uname -m names it', async () => {
    const out = await build('uname', `FROM ${base}\nRUN uname -m > /arch\n`);
    assert.equal(out.code, 0, out.stderr);
    for (const arch of ARCHES) {
      assert.equal(await readFile(join(out.dest, dirOf(arch), 'arch'), 'utf8'), `${BUSYBOX_ARCHES[arch].machine}\n`, arch);
    }
  });

  test('a base file a step deletes is gone from the result (a whiteout)', async () => {
    const out = await build('whiteout', `FROM ${base}\nRUN rm /etc/base-file && echo kept > /etc/new\n`, {}, 'linux/amd64,linux/arm64');
    assert.equal(out.code, 0, out.stderr);
    for (const arch of ['amd64', 'arm64'] as const) {
      assert.equal(existsSync(join(out.dest, dirOf(arch), 'etc', 'base-file')), false);
      assert.equal(await readFile(join(out.dest, dirOf(arch), 'etc', 'new'), 'utf8'), 'kept\n');
    }
  });

  test('RUN and COPY interleave: each step sees the files of the ones before', async () => {
    const out = await build('interleave', `FROM ${base}\nCOPY a /a\nRUN cat /a > /b\nCOPY c /c\nRUN cat /b /c > /d && rm /a\n`, { a: 'first\n', c: 'second\n' }, 'linux/amd64,linux/arm/v7');
    assert.equal(out.code, 0, out.stderr);
    for (const arch of ['amd64', 'armhf'] as const) {
      assert.equal(await readFile(join(out.dest, dirOf(arch), 'd'), 'utf8'), 'first\nsecond\n');
      assert.equal(existsSync(join(out.dest, dirOf(arch), 'a')), false);
    }
  });

  test('COPY --from a stage takes the files its RUN steps made', async () => {
    const out = await build('from-stage', `FROM ${base} AS b\nRUN uname -m > /out && rm /etc/base-file\nFROM scratch\nCOPY --from=b /out /got\n`, {}, 'linux/amd64,linux/ppc64le');
    assert.equal(out.code, 0, out.stderr);
    for (const arch of ['amd64', 'ppc64el'] as const) {
      assert.deepEqual(await readdir(join(out.dest, dirOf(arch))), ['got']);
      assert.equal(await readFile(join(out.dest, dirOf(arch), 'got'), 'utf8'), `${BUSYBOX_ARCHES[arch].machine}\n`);
    }
  });

  test('exec form, SHELL, WORKDIR, ENV, ARG and the platform args', async () => {
    const dockerfile = [
      `FROM ${base}`,
      'ARG GREETING=hi',
      'ENV WHO=world',
      'WORKDIR /work/here',
      'RUN ["/bin/sh", "-c", "echo $GREETING $WHO $TARGETARCH $TARGETPLATFORM > exec.txt; pwd >> exec.txt"]',
      'SHELL ["/bin/sh", "-ec"]',
      'RUN echo "$0" > shell.txt',
      '',
    ].join('\n');
    const out = await build('forms', dockerfile, {}, 'linux/arm64');
    assert.equal(out.code, 0, out.stderr);
    const here = join(out.dest, 'work', 'here');
    assert.equal(await readFile(join(here, 'exec.txt'), 'utf8'), 'hi world arm64 linux/arm64\n/work/here\n');
    assert.equal(await readFile(join(here, 'shell.txt'), 'utf8'), '/bin/sh\n');
  });

  test('a failing step stops the build: its line, command, exit code and output; nothing written', async () => {
    const out = await build('failing', `FROM ${base}\nRUN echo made > /x\nRUN echo about to fail && exit 3\n`, {}, 'linux/amd64,linux/arm64');
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stderr, /Dockerfile:3: \[linux\/(amd64|arm64)\] RUN echo about to fail && exit 3 exited with code 3: about to fail/);
    assert.equal(withoutProgress(out.stderr).trim().split('\n').length, 1, out.stderr);
    assert.equal(existsSync(out.dest), false);
    const pushed = await runCli(['build', '--platform', 'linux/arm64', '-t', `${suite.reg.host}/failing:1`, '--push', join(suite.dir.path, 'failing')], { env: suite.env });
    assert.equal(pushed.code, 1, pushed.stderr);
    assert.equal((await fetch(`${suite.reg.url}/v2/failing/manifests/1`)).status, 404);
  });

  test('RUN --security=insecure is refused on its line (steps always run sandboxed)', async () => {
    const out = await build('flags', `FROM ${base}\nRUN --security=insecure true\n`, {}, 'linux/amd64');
    assert.equal(out.code, 2, out.stderr);
    assert.match(out.stderr, /Dockerfile:2: RUN --security=insecure is not supported/);
  });

  test('proxy build args reach RUN without an ARG line and stay out of its cache key; --build-arg NAME takes the value from the environment', async () => {
    const ctx = join(suite.dir.path, 'proxy');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nARG TOK\nRUN echo "[$http_proxy][$NO_PROXY][$TOK]" > /out\n`);
    const built = async (proxy: string) => {
      const dest = join(suite.dir.path, `proxy-out-${proxy.length}`);
      const out = await runCli(['build', '--platform', 'linux/amd64', '--build-arg', `http_proxy=${proxy}`, '--build-arg', 'NO_PROXY=localhost', '--build-arg', 'TOK', '-o', `type=local,dest=${dest}`, ctx], {
        env: { ...suite.env, TOK: 'from-env' },
      });
      assert.equal(out.code, 0, out.stderr);
      return readFile(join(dest, 'out'), 'utf8');
    };
    assert.equal(await built('http://proxy:3128'), '[http://proxy:3128][localhost][from-env]\n');
    // Another proxy is not another step: the cached layer is used, as BuildKit does.
    assert.equal(await built('http://other-proxy:8080'), '[http://proxy:3128][localhost][from-env]\n');
  });

  test("HOME, unless ENV sets it, is the USER's home from /etc/passwd, else / (runc's rule)", async () => {
    const dockerfile = [
      `FROM ${base}`,
      'RUN mkdir -m 777 /out && echo "root $HOME" > /out/root && mv /etc/passwd /etc/passwd.kept',
      // No /etc/passwd at all (a scratch image with a static binary): root's HOME is /, as runc gives it.
      "RUN echo \"nopasswd $HOME\" > /out/nopasswd && mv /etc/passwd.kept /etc/passwd && echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd",
      'USER app',
      'RUN echo "app $HOME" > /out/app',
      'USER 4242',
      'RUN echo "4242 $HOME" > /out/4242',
      'ENV HOME=/set',
      'RUN echo "env $HOME" > /out/env',
    ].join('\n');
    const out = await build('home', `${dockerfile}\n`, {}, 'linux/arm64');
    assert.equal(out.code, 0, out.stderr);
    const read = (name: string) => readFile(join(out.dest, 'out', name), 'utf8');
    assert.deepEqual(await Promise.all(['root', 'nopasswd', 'app', '4242', 'env'].map(read)), ['root /root\n', 'nopasswd /\n', 'app /home/app\n', '4242 /\n', 'env /set\n']);
  });

  test('type=local and type=tar keep what the steps made: modes (setuid, a 0700 directory, a mode-0 file), owners in the tar, links, pipes, empty directories', async () => {
    const steps = [
      'mkdir -p /p/empty /p/d700 && chmod 700 /p/d700',
      'echo x > /p/f750 && chmod 750 /p/f750 && ln -s f750 /p/sym && ln /p/f750 /p/hard',
      'echo s > /p/suid && chown 1000:50 /p/suid && chmod 4755 /p/suid && mkfifo /p/pipe',
      // Mode 0 stays 0 (tar-stream writes a 0 as 0644/0755 unless told otherwise): a shadow file must not become readable.
      'echo secret > /p/shadow && chmod 0 /p/shadow && mkdir /p/d0 && chmod 0 /p/d0',
    ];
    const out = await build('modes', `FROM ${base}\nRUN ${steps.join(' && ')}\n`, {}, 'linux/amd64,linux/arm64');
    assert.equal(out.code, 0, out.stderr);
    for (const arch of ['amd64', 'arm64'] as const) {
      const p = join(out.dest, dirOf(arch), 'p');
      assert.equal((await stat(join(p, 'suid'))).mode & 0o7777, 0o4755, `${arch} setuid kept`);
      assert.equal((await stat(join(p, 'd700'))).mode & 0o7777, 0o700, `${arch} directory mode`);
      assert.equal((await lstat(join(p, 'sym'))).isSymbolicLink(), true);
      assert.equal((await stat(join(p, 'hard'))).ino, (await stat(join(p, 'f750'))).ino, 'hard link');
      assert.equal((await lstat(join(p, 'pipe'))).isFIFO(), true);
      assert.deepEqual(await readdir(join(p, 'empty')), []);
      assert.equal((await stat(join(p, 'shadow'))).mode & 0o7777, 0, `${arch} a mode-0 file stays 0 in the RUN layer`);
      assert.equal((await stat(join(p, 'd0'))).mode & 0o7777, 0, `${arch} a mode-0 directory too`);
    }
    const tarOut = join(suite.dir.path, 'modes.tar');
    const ctx = join(suite.dir.path, 'modes');
    const tar = await runCli(['build', '--platform', 'linux/amd64,linux/arm64', '-o', `type=tar,dest=${tarOut}`, ctx], { env: suite.env, cwd: ctx });
    assert.equal(tar.code, 0, tar.stderr);
    const listing = new Map(
      (await exec('tar', ['-tvf', tarOut, '--numeric-owner'])).stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [mode, owner, , , , ...rest] = line.split(/\s+/);
          return [rest.join(' '), `${mode} ${owner}`] as const;
        }),
    );
    assert.equal(listing.get('linux_arm64/p/suid'), '-rwsr-xr-x 1000/50');
    assert.equal(listing.get('linux_arm64/p/d700/'), 'drwx------ 0/0');
    assert.equal(listing.get('linux_arm64/p/empty/'), 'drwxr-xr-x 0/0');
    assert.equal(listing.get('linux_arm64/p/sym -> f750'), 'lrwxrwxrwx 0/0');
    assert.equal(listing.get('linux_arm64/p/hard link to linux_arm64/p/f750'), 'hrwxr-x--- 0/0');
    assert.equal(listing.get('linux_amd64/p/pipe'), 'prw-r--r-- 0/0');
    assert.equal(listing.get('linux_amd64/p/shadow'), '---------- 0/0');
    assert.equal(listing.get('linux_amd64/p/d0/'), 'd--------- 0/0');
    assert.equal(listing.get('linux_amd64/bin/busybox')?.slice(0, 10), '-rwxr-xr-x');
    // The base's applet links are links in the tar too, and GNU tar unpacks the whole of it.
    assert.match(listing.get('linux_amd64/bin/sh -> busybox') ?? '', /^l/);
    const unpacked = join(suite.dir.path, 'modes-unpacked');
    await mkdir(unpacked);
    await exec('tar', ['-xpf', tarOut, '-C', unpacked]);
    assert.equal((await stat(join(unpacked, 'linux_arm64', 'p', 'suid'))).mode & 0o7777, 0o4755);
  });
});
