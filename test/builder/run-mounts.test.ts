// RUN --mount, --network and here-documents in `polyarch build`, end to end: real steps under
// bubblewrap (arm64 through qemu) on a busybox base, results read back from the exported files.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { buildSuite } from '../helpers/build-suite.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { storeBusyboxIndex } from '../helpers/busybox-index.js';
import { runCli, withoutProgress } from '../helpers/run-cli.js';

describe('RUN --mount', { timeout: 600_000 }, () => {
  const suite = buildSuite();
  let base = '';

  before(async () => {
    await ensureEmulation(['amd64', 'arm64']);
    base = `${suite.reg.host}/busybox:mounts`;
    await storeBusyboxIndex(base, ['amd64', 'arm64'], suite.dir.path);
  });

  let count = 0;
  async function build(dockerfile: string, files: Record<string, string> = {}, options: { platforms?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {}) {
    const ctx = join(suite.dir.path, `ctx-${++count}`);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(ctx, path, '..'), { recursive: true });
      await writeFile(join(ctx, path), content);
    }
    const dest = join(suite.dir.path, `out-${count}`);
    const out = await runCli(['build', '--platform', options.platforms ?? 'linux/amd64', '-o', `type=local,dest=${dest}`, ...(options.args ?? []), ctx], { env: { ...suite.env, ...options.env }, cwd: ctx });
    return { ...out, dest, ctx };
  }
  const read = (path: string) => readFile(path, 'utf8');

  test('type=bind from the context: read-only by default; rw writes go to a copy that is thrown away', async () => {
    const out = await build(
      [
        `FROM ${base}`,
        'RUN --mount=target=/src cat /src/dir/a > /got-a && (echo x > /src/new 2>/dev/null && echo writable || echo read-only) > /ro',
        'RUN --mount=type=bind,source=dir,target=/d,rw sh -c "echo changed > /d/a && cat /d/a > /rw"',
        'RUN --mount=type=bind,source=dir/a,target=/one cat /one > /got-one',
        '',
      ].join('\n'),
      { 'dir/a': 'from the context\n' },
    );
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await read(join(out.dest, 'got-a')), 'from the context\n');
    assert.equal(await read(join(out.dest, 'ro')), 'read-only\n');
    assert.equal(await read(join(out.dest, 'rw')), 'changed\n');
    assert.equal(await read(join(out.dest, 'got-one')), 'from the context\n');
    // The context itself is untouched, and no mount point or mounted file entered the image.
    assert.equal(await read(join(out.ctx, 'dir', 'a')), 'from the context\n');
    for (const name of ['src', 'd', 'one']) assert.equal(existsSync(join(out.dest, name)), false, name);
  });

  test('type=bind from a stage (its whole filesystem) and from an image', async () => {
    const out = await build(
      [
        `FROM ${base} AS tools`,
        'RUN echo made in tools > /made',
        `FROM ${base}`,
        'RUN --mount=from=tools,target=/t cat /t/made /t/etc/base-file > /from-stage',
        `RUN --mount=type=bind,from=${base},source=/etc,target=/img cat /img/base-file > /from-image`,
        '',
      ].join('\n'),
      {},
      { platforms: 'linux/amd64,linux/arm64' },
    );
    assert.equal(out.code, 0, out.stderr);
    for (const arch of ['amd64', 'arm64']) {
      const dir = join(out.dest, `linux_${arch}`);
      assert.equal(await read(join(dir, 'from-stage')), `made in tools\nfrom the ${arch} base\n`);
      assert.equal(await read(join(dir, 'from-image')), `from the ${arch} base\n`);
      assert.equal(existsSync(join(dir, 't')), false);
    }
  });

  test('type=cache persists across builds, per id and per platform; sharing and ids', async () => {
    const dockerfile = (n: number) =>
      [
        `FROM ${base}`,
        // The command differs per build (n), so the step runs each time and appends to the cache.
        `RUN --mount=type=cache,target=/var/cache/app sh -c 'echo "${n} $(uname -m)" >> /var/cache/app/log; cat /var/cache/app/log > /log'`,
        `RUN --mount=type=cache,id=other,target=/c,sharing=locked sh -c 'echo ${n} >> /c/log; cat /c/log > /other'`,
        `RUN --mount=type=cache,id=other,target=/c,sharing=private sh -c 'ls /c > /private'`,
        // A new cache seeded from an image's directory, and one made with an owner and mode.
        `RUN --mount=type=cache,id=seeded,target=/s,from=${base},source=/etc cat /s/base-file > /seeded`,
        "RUN --mount=type=cache,id=owned,target=/o,uid=1000,gid=50,mode=0770 stat -c '%u:%g %a' /o > /owner",
        '',
      ].join('\n');
    const first = await build(dockerfile(1), {}, { platforms: 'linux/amd64,linux/arm64' });
    assert.equal(first.code, 0, first.stderr);
    const second = await build(dockerfile(2), {}, { platforms: 'linux/amd64,linux/arm64' });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(await read(join(second.dest, 'linux_amd64', 'log')), '1 x86_64\n2 x86_64\n');
    assert.equal(await read(join(second.dest, 'linux_arm64', 'log')), '1 aarch64\n2 aarch64\n');
    assert.equal(await read(join(second.dest, 'linux_amd64', 'other')), '1\n2\n');
    // Nothing else holds id "other" when the private step runs: it gets the same directory.
    assert.equal(await read(join(second.dest, 'linux_amd64', 'private')), 'log\n');
    assert.equal(existsSync(join(second.dest, 'linux_amd64', 'var', 'cache', 'app')), false);
    assert.equal(await read(join(second.dest, 'linux_arm64', 'seeded')), 'from the arm64 base\n');
    assert.equal(await read(join(second.dest, 'linux_amd64', 'owner')), '1000:50 770\n');
  });

  test('type=tmpfs: an empty in-memory directory whose files never reach the layer', async () => {
    const out = await build(`FROM ${base}\nRUN --mount=type=tmpfs,target=/scratch,size=1m sh -c 'ls -A /scratch | wc -l > /count; echo x > /scratch/f; grep " /scratch " /proc/mounts | cut -d" " -f3 > /fs'\n`);
    assert.equal(out.code, 0, out.stderr);
    assert.equal((await read(join(out.dest, 'count'))).trim(), '0');
    assert.equal((await read(join(out.dest, 'fs'))).trim(), 'tmpfs');
    assert.equal(existsSync(join(out.dest, 'scratch')), false);
  });

  test('type=secret from --secret src=FILE and env=VAR: a file, a variable, never in the image', async () => {
    const secretFile = join(suite.dir.path, 'token.txt');
    await writeFile(secretFile, 's3cr3t-from-file');
    const out = await build(
      [
        `FROM ${base}`,
        'RUN --mount=type=secret,id=token cat /run/secrets/token > /seen-file && stat -c %a /run/secrets/token > /mode',
        'RUN --mount=type=secret,id=api,env=API_KEY,target=/etc/api sh -c \'echo "$API_KEY" > /seen-env; cat /etc/api >> /seen-env\'',
        'RUN --mount=type=secret,id=absent ls /run/secrets > /listed 2>&1 || echo none > /listed',
        '',
      ].join('\n'),
      {},
      { args: ['--secret', `id=token,src=${secretFile}`, '--secret', 'id=api,env=MY_API_KEY'], env: { MY_API_KEY: 'k3y-from-env' } },
    );
    assert.equal(out.code, 0, out.stderr);
    // The steps saw them (and copied them into files on purpose, to prove it).
    assert.equal(await read(join(out.dest, 'seen-file')), 's3cr3t-from-file');
    assert.equal((await read(join(out.dest, 'mode'))).trim(), '400');
    assert.equal(await read(join(out.dest, 'seen-env')), 'k3y-from-env\nk3y-from-env');
    // An optional secret no one gave is skipped; no mount point was left behind.
    assert.equal((await read(join(out.dest, 'listed'))).trim(), 'none');
    assert.equal(existsSync(join(out.dest, 'run')), false);
    assert.equal(existsSync(join(out.dest, 'etc', 'api')), false);
  });

  test('type=secret uid=, gid= and mode= as BuildKit applies them (0:0 0400 by default), for root steps and a USER', async () => {
    const secretFile = join(suite.dir.path, 'owned.txt');
    await writeFile(secretFile, 'owned-secret');
    const out = await build(
      [
        `FROM ${base}`,
        "RUN --mount=type=secret,id=s stat -c '%u:%g %a' /run/secrets/s > /default",
        "RUN --mount=type=secret,id=s,uid=1000,gid=50,mode=0440 stat -c '%u:%g %a' /run/secrets/s > /given",
        'USER app',
        // Owned by root with mode 0400 unless told otherwise: a USER reads it only when given it.
        'RUN --mount=type=secret,id=s (cat /run/secrets/s || echo denied) > /home/app/default 2>/dev/null',
        'RUN --mount=type=secret,id=s,uid=1000 cat /run/secrets/s > /home/app/given',
        '',
      ].join('\n'),
      {},
      { platforms: 'linux/amd64,linux/arm64', args: ['--secret', `id=s,src=${secretFile}`] },
    );
    assert.equal(out.code, 0, out.stderr);
    for (const arch of ['amd64', 'arm64']) {
      const dest = join(out.dest, `linux_${arch}`);
      assert.equal(await read(join(dest, 'default')), '0:0 400\n', arch);
      assert.equal(await read(join(dest, 'given')), '1000:50 440\n', arch);
      assert.equal(await read(join(dest, 'home', 'app', 'default')), 'denied\n', arch);
      assert.equal(await read(join(dest, 'home', 'app', 'given')), 'owned-secret', arch);
      assert.equal(existsSync(join(dest, 'run', 'secrets')), false, arch);
    }
  });

  test('a required secret that was not given, and a missing secret file, each stop the build with one line', async () => {
    const required = await build(`FROM ${base}\nRUN --mount=type=secret,id=needed,required true\n`);
    assert.equal(required.code, 2, required.stderr);
    assert.match(required.stderr, /Dockerfile:2: RUN --mount=type=secret: the secret "needed" is required but was not given/);
    assert.equal(withoutProgress(required.stderr).trim().split('\n').length, 1);
    const missing = await build(`FROM ${base}\nRUN true\n`, {}, { args: ['--secret', 'id=x,src=/nonexistent/secret'] });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /--secret id=x: cannot read "\/nonexistent\/secret": no such file/);
  });

  test('bad --mount values, type=ssh and --security=insecure are refused with one line naming the Dockerfile line', async () => {
    const cases: [string, RegExp][] = [
      ['--mount=type=ssh', /Dockerfile:2: RUN --mount=type=ssh is not supported/],
      ['--mount=type=nfs,target=/x', /Dockerfile:2: RUN --mount=type=nfs,target=\/x: unknown mount type "nfs"/],
      ['--mount=type=cache,target=/x,colour=red', /Dockerfile:2: RUN --mount=type=cache,target=\/x,colour=red: unknown option "colour"/],
      ['--mount=type=tmpfs', /Dockerfile:2: RUN --mount=type=tmpfs: type=tmpfs needs a target/],
      ['--mount=type=bind,source=nothing-here,target=/x', /Dockerfile:2: RUN --mount source "nothing-here" not found in the build context/],
      ['--security=insecure', /Dockerfile:2: RUN --security=insecure is not supported/],
      ['--network=bridge', /Dockerfile:2: RUN --network=bridge: expected default, none or host/],
    ];
    for (const [flag, expected] of cases) {
      const out = await build(`FROM ${base}\nRUN ${flag} true\n`);
      assert.equal(out.code, 2, `${flag}: ${out.stderr}`);
      assert.match(out.stderr, expected);
      assert.equal(withoutProgress(out.stderr).trim().split('\n').length, 1, out.stderr);
    }
  });

  test('a Dockerfile error no variable can change stops the build before any step runs; one with a variable, when its step runs', async () => {
    const cases: [string, RegExp][] = [
      ['RUN --mount=type=nfs,target=/x true', /Dockerfile:3: RUN --mount=type=nfs,target=\/x: unknown mount type "nfs"/],
      ['RUN --mount=type=ssh true', /Dockerfile:3: RUN --mount=type=ssh is not supported/],
      ['EXPOSE 99999', /Dockerfile:3: EXPOSE 99999: expected PORT/],
      ['HEALTHCHECK --interval=often CMD true', /Dockerfile:3: HEALTHCHECK --interval=often: expected a duration/],
      ['SHELL sh -c', /Dockerfile:3: SHELL needs the JSON form/],
      ['STOPSIGNAL SIGNOPE', /Dockerfile:3: STOPSIGNAL SIGNOPE: not a signal/],
      ['COPY --chmod=bogus a /a', /Dockerfile:3: invalid chmod parameter: "bogus"/],
      ['ADD --checksum=sha256:00 a /a', /Dockerfile:3: ADD --checksum: takes one source, an http\(s\) URL/],
    ];
    for (const [line, expected] of cases) {
      const out = await build(`FROM ${base}\nRUN echo ran > /first\n${line}\n`, { a: 'a\n' }, { args: ['--progress', 'plain'] });
      assert.equal(out.code, 2, `${line}: ${out.stderr}`);
      assert.match(out.stderr, expected);
      assert.doesNotMatch(out.stderr, /RUN echo ran/, `${line}: the step before it never started`);
    }
    const late = await build(`FROM ${base}\nARG KIND=nfs\nRUN echo ran > /first\nRUN --mount=type=$KIND,target=/x true\n`, {}, { args: ['--progress', 'plain'] });
    assert.equal(late.code, 2, late.stderr);
    assert.match(late.stderr, /Dockerfile:4: RUN --mount=type=\$KIND,target=\/x: unknown mount type "nfs"/);
    assert.match(late.stderr, /RUN echo ran/, 'the value is known only at its step');
  });

  test('--network=none leaves only loopback; --security=sandbox is accepted', async () => {
    const out = await build(`FROM ${base}\nRUN --network=none --security=sandbox sh -c 'ls /sys/class/net > /nets 2>/dev/null || ip -o link | cut -d: -f2 | tr -d " " > /nets'\n`);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual((await read(join(out.dest, 'nets'))).trim().split(/\s+/), ['lo']);
  });

  test("build --network none is the network of every step that names none or default (buildx's), a step's host still wins, a bad mode is one line; --allow network.host is taken", async () => {
    const count = (name: string) => `sh -c 'ip -o link | wc -l > /${name}'`;
    const dockerfile = `FROM ${base}\nRUN ${count('unnamed')}\nRUN --network=default ${count('default')}\nRUN --network=host ${count('host')}\n`;
    const hostLinks = (await build(dockerfile)).dest;
    const none = await build(dockerfile, {}, { args: ['--network', 'none'] });
    assert.equal(none.code, 0, none.stderr);
    assert.equal(await read(join(none.dest, 'unnamed')), '1\n', 'only lo');
    assert.equal(await read(join(none.dest, 'default')), '1\n');
    assert.equal(await read(join(none.dest, 'host')), await read(join(hostLinks, 'host')));
    assert.ok(Number(await read(join(hostLinks, 'unnamed'))) > 1, "without --network the step sees the host's links");
    const bad = await build(dockerfile, {}, { args: ['--network', 'bridge'] });
    assert.deepEqual([bad.code, bad.stderr], [2, 'polyarch: --network bridge: expected default, host or none [USAGE]\n']);
    // buildx's entitlement for RUN --network=host is taken (and changes nothing: the steps were cached above); security.insecure is refused.
    const allowed = await build(dockerfile, {}, { args: ['--allow', 'network.host'] });
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(await read(join(allowed.dest, 'host')), await read(join(hostLinks, 'host')));
    const insecure = await build(dockerfile, {}, { args: ['--allow', 'network.host,security.insecure'] });
    assert.deepEqual([insecure.code, insecure.stderr], [2, 'polyarch: --allow security.insecure: RUN --security=insecure is not supported; steps always run sandboxed [USAGE]\n']);
  });

  test('--add-host: names every RUN finds first in /etc/hosts (network none too), part of the step\'s cache key, never in a layer', async () => {
    const dockerfile = `FROM ${base}\nRUN head -3 /etc/hosts > /hosts\nRUN --network=none grep db /etc/hosts > /none\n`;
    const out = await build(dockerfile, {}, { args: ['--add-host', 'db:10.1.2.3', '--add-host', 'gw=host-gateway', '--add-host', 'v6:[fd00::1]'] });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await read(join(out.dest, 'hosts')), '10.1.2.3\tdb\n127.0.0.1\tgw\nfd00::1\tv6\n');
    assert.equal(await read(join(out.dest, 'none')), '10.1.2.3\tdb\n');
    // /etc/hosts is bound over the root for the step only: the image has none of these names.
    assert.doesNotMatch(await read(join(out.dest, 'etc', 'hosts')).catch(() => ''), /10\.1\.2\.3/);
    // Another address is another step: it runs again rather than reuse the first one's layer.
    const moved = await build(dockerfile, {}, { args: ['--add-host', 'db:10.9.9.9', '--add-host', 'gw=host-gateway', '--add-host', 'v6:[fd00::1]'] });
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(await read(join(moved.dest, 'hosts')), /^10\.9\.9\.9\tdb\n/);
    for (const [value, message] of [
      ['db', 'polyarch: --add-host db: expected NAME:IP [USAGE]\n'],
      ['db:10.1.2', 'polyarch: --add-host (extraHosts) db: "10.1.2" is not an IP address [USAGE]\n'],
    ] as const) {
      const bad = await build(dockerfile, {}, { args: ['--add-host', value] });
      assert.deepEqual([bad.code, bad.stderr], [2, message]);
    }
  });

  test('here-documents: a script, a #! program, a redirected document, several at once', async () => {
    const dockerfile = [
      `FROM ${base}`,
      'ARG WHO=arg',
      'RUN <<EOF',
      'echo one > /script',
      'echo "two $WHO" >> /script',
      'EOF',
      'RUN <<EOF',
      '#!/bin/sh',
      'echo "$0" > /program',
      'EOF',
      'RUN cat <<EOF > /redirected',
      'hello $TARGETARCH',
      'EOF',
      'RUN cat <<"A" > /first && cat <<-B > /second',
      'quoted $WHO',
      'A',
      '\tindented',
      '\tB',
      'RUN --mount=type=tmpfs,target=/t <<EOF',
      'echo with a mount > /with-flag',
      'EOF',
      '',
    ].join('\n');
    const out = await build(dockerfile, {}, { platforms: 'linux/arm64' });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await read(join(out.dest, 'script')), 'one\ntwo arg\n');
    assert.equal(await read(join(out.dest, 'program')), '/dev/pipes/EOF\n');
    assert.equal(await read(join(out.dest, 'redirected')), 'hello arm64\n');
    assert.equal(await read(join(out.dest, 'first')), 'quoted $WHO\n');
    assert.equal(await read(join(out.dest, 'second')), 'indented\n');
    assert.equal(await read(join(out.dest, 'with-flag')), 'with a mount\n');
    assert.deepEqual((await readdir(out.dest)).filter((n) => n === 'dev' || n === 't'), []);
  });
});
