// `polyarch run` of hostile images: odd entrypoint, cmd, workdir, user and env values in the
// config, layers that try to leave the root, links at a -v mount point, network none that must
// really have no network, and
// the temporary root removed whatever happens (success, failure, a refused layer, SIGINT, SIGTERM).
// Every test asserts that the host is untouched and that nothing is left in the temporary directory.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { storeBaseIndex } from '../helpers/base-images.js';
import { copyBusyboxRoot } from '../helpers/busybox.js';
import { CLI_PATH, runCli } from '../helpers/run-cli.js';
import { tarOf } from '../helpers/tar.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('polyarch run of hostile images', { timeout: 300_000 }, () => {
  const tag = randomBytes(6).toString('hex');
  let scratch: { path: string; remove: () => Promise<void> };
  /** TMPDIR of every run: the temporary roots go here and must be gone afterwards. */
  let runTemp = '';
  /** A host directory hostile links point at: it must stay empty. */
  let hostDir = '';
  let busybox = '';
  let counter = 0;

  before(async () => {
    scratch = await tempDir('polyarch-run-sec-');
    runTemp = join(scratch.path, 'tmp');
    await mkdir(runTemp);
    hostDir = await mkdtemp('/tmp/polyarch-host-');
    busybox = await copyBusyboxRoot('amd64', join(scratch.path, 'busybox'));
  });
  after(async () => {
    await rm(hostDir, { recursive: true, force: true });
    await scratch.remove();
  });

  async function assertClean(): Promise<void> {
    assert.deepEqual(await readdir(runTemp), [], 'the temporary root is removed');
    assert.deepEqual(await readdir(hostDir), []);
    assert.deepEqual((await readdir('/tmp')).filter((n) => n.includes(tag)), []);
  }

  /** An amd64 image in a layout: the busybox root, then the given extra layers, with `config`. */
  async function image(config: Record<string, unknown>, extra?: Buffer): Promise<string> {
    const layout = join(scratch.path, `layout${++counter}`);
    await storeBaseIndex(`oci:${layout}:img`, [{ platform: 'linux/amd64', dir: busybox }], { config: { Env: ['PATH=/bin'], ...config } });
    if (extra === undefined) return `oci:${layout}:img`;
    // A second image whose only layer is the hostile one on top of busybox's files.
    const tarFile = join(scratch.path, `layer${counter}.tar`);
    const base = await runTar(busybox);
    await writeFile(tarFile, Buffer.concat([base.subarray(0, base.length - 1024), extra]));
    await storeBaseIndex(`oci:${layout}:img`, [{ platform: 'linux/amd64', tar: tarFile }], { config: { Env: ['PATH=/bin'], ...config } });
    return `oci:${layout}:img`;
  }

  async function runTar(dir: string): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const child = spawn('tar', ['--numeric-owner', '-cf', '-', '-C', dir, '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.on('error', reject);
      child.on('close', () => resolve(Buffer.concat(chunks)));
    });
  }

  const run = (args: readonly string[]) => runCli(['run', ...args], { env: { TMPDIR: runTemp } });

  function assertOneLine(out: { code: number; stderr: string }, code: number, pattern: RegExp): void {
    assert.equal(out.code, code, out.stderr);
    assert.equal(out.stderr.trim().split('\n').length, 1, out.stderr);
    assert.match(out.stderr, pattern);
    assert.doesNotMatch(out.stderr, /\n\s+at /);
  }

  test('network none really has no network: only lo, and nothing is reachable', async () => {
    const loc = await image({});
    const none = await run(['--network', 'none', loc, '--', 'sh', '-c', 'ip -o link; ip -o addr | grep -v " lo " | wc -l']);
    assert.equal(none.code, 0, none.stderr);
    const lines = none.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, -1).map((l) => l.split(':')[1]?.trim()), ['lo']);
    assert.equal(lines.at(-1), '0');
    await assertClean();
  });

  test('odd entrypoint, cmd, env and workdir values: run safely or stop with one line', async () => {
    // Non-string entries are dropped; an entrypoint that is no list is none.
    const odd = await image({ Entrypoint: 'sh -c "echo pwned > /tmp/x"', Cmd: ['/bin/echo', 7, null, { a: 1 }, 'ok'] });
    const oddOut = await run([odd]);
    assert.equal(oddOut.code, 0, oddOut.stderr);
    assert.equal(oddOut.stdout, 'ok\n');
    // Env entries without a name or "=" are skipped; the caller's environment does not leak in.
    const env = await image({ Env: ['PATH=/bin', '=nameless', 'NOEQUALS', `GOOD=${tag}`], Cmd: ['env'] });
    const envOut = await runCli(['run', env], { env: { TMPDIR: runTemp, [`CALLER_${tag}`]: 'leak' } });
    assert.equal(envOut.code, 0, envOut.stderr);
    assert.deepEqual(envOut.stdout.trim().split('\n').sort(), [`GOOD=${tag}`, 'HOME=/root', 'HOSTNAME=polyarch', 'PATH=/bin', 'PWD=/']);
    // A NUL in a value cannot reach the step's environment: one line.
    assertOneLine(await run([await image({ Env: ['A=x\u0000y'], Cmd: ['true'] })]), 2, /cannot set environment variable "A": invalid name or value/);
    // Nor in a word of the command (it was Node's own TypeError, naming bwrap's argument number).
    assertOneLine(await run([await image({ Cmd: ['echo', 'x\u0000y'] })]), 2, /cannot run "echo": its word 2 holds a NUL byte \("x\\u0000y"\) \[USAGE\]/);
    // A relative workdir is "/"; one through links that leave the root is made inside it.
    const rel = await image({ WorkingDir: '../../../../tmp', Cmd: ['pwd'] });
    assert.equal((await run([rel])).stdout, '/\n');
    const linked = await image({ WorkingDir: `/../../../..${hostDir}/w`, Cmd: ['sh', '-c', 'pwd; touch made'] });
    const linkedOut = await run([linked]);
    assert.equal(linkedOut.code, 0, linkedOut.stderr);
    assert.equal(linkedOut.stdout, `${hostDir}/w\n`);
    // The same from the command line: -w through links that leave the root is made inside it, a nameless -e is one line.
    const flagged = await run(['-w', `/../../../..${hostDir}/w2`, await image({ Cmd: ['sh', '-c', 'pwd; touch made'] })]);
    assert.equal(flagged.code, 0, flagged.stderr);
    assert.equal(flagged.stdout, `${hostDir}/w2\n`);
    assertOneLine(await run(['-e', '=x', await image({ Cmd: ['true'] })]), 2, /--env =x: expected KEY=VALUE \[USAGE\]/);
    // A line break in an --add-host name would add a line of its own to /etc/hosts: one line instead.
    assertOneLine(await run(['--add-host', 'a\n6.6.6.6 b:1.2.3.4', await image({ Cmd: ['true'] })]), 2, /--add-host \(extraHosts\) "a\\n6\.6\.6\.6 b": not a host name \[USAGE\]/);
    // No entrypoint and no cmd: one line asking for a command.
    assertOneLine(await run([await image({})]), 2, /has no entrypoint or command: name one after the image/);
    await assertClean();
  });

  test('odd users: huge, negative, unknown and a passwd link to the host are one line each', async () => {
    for (const [user, pattern] of [
      ['4294967295', /cannot run as user "4294967295": ids must be at most 4294967294 \[USAGE\]/],
      ['-1', /cannot run as user "-1": no such user in the image's \/etc\/passwd \[NOT_FOUND\]/],
      ['nosuch', /cannot run as user "nosuch": no such user/],
      ['app:nosuch', /cannot run as group "nosuch": no such group/],
    ] as const) {
      const out = await run([await image({ User: user, Cmd: ['id'] })]);
      assertOneLine(out, /USAGE/.test(pattern.source) ? 2 : 1, pattern);
    }
    await assertClean();
  });

  test('layers that try to leave the root are refused or land inside it; the root is removed either way', async () => {
    const attempts: readonly { name: string; entries: Parameters<typeof tarOf>[0] }[] = [
      { name: 'dot-dot', entries: [{ name: `../../../../../../tmp/dotdot-${tag}` }] },
      { name: 'absolute', entries: [{ name: `/tmp/absolute-${tag}` }] },
      { name: 'through a link', entries: [{ name: 'out', type: 'symlink', linkname: hostDir }, { name: `out/through-${tag}` }] },
      { name: 'a relative link', entries: [{ name: 'up', type: 'symlink', linkname: '../../../../../../../../tmp' }, { name: `up/relative-${tag}` }] },
      { name: 'a hard link to a host file', entries: [{ name: 'shadow', type: 'link', linkname: '/etc/passwd' }] },
      { name: 'a device', entries: [{ name: 'mem', type: 'character-device' }] },
    ];
    for (const { name, entries } of attempts) {
      const loc = await image({ Cmd: ['sh', '-c', `ls / /tmp; cat /shadow 2>/dev/null | head -1; ls /out/ /up/ 2>/dev/null`] }, await tarOf(entries));
      const out = await run([loc]);
      if (out.code === 0) {
        assert.doesNotMatch(out.stdout, /^root:x:0:0/m, `${name}: the host's passwd is not reachable`);
      } else {
        assert.equal(out.stderr.trim().split('\n').length, 1, `${name}: ${out.stderr}`);
      }
      await assertClean();
    }
    assert.equal(existsSync(`/etc/passwd-${tag}`), false);
    assert.match(await readFile('/etc/passwd', 'utf8'), /^root:/);
  });

  test('-v: a link at the mount point cannot carry the mount out of the root, and the host directory outlives the root', async () => {
    const volume = join(scratch.path, 'volume');
    await mkdir(volume);
    await writeFile(join(volume, 'kept'), 'host\n');
    // The image's /data and /etc/conf lead into the host directory hostile links aim at.
    const links = await tarOf([
      { name: 'data', type: 'symlink', linkname: `/../../../..${hostDir}/data` },
      { name: 'etc/conf', type: 'symlink', linkname: `../../../../..${hostDir}/conf` },
    ]);
    const loc = await image({ Cmd: ['sh', '-c', 'echo in > /data/written; cat /etc/conf; ls /data'] }, links);
    const out = await run(['-v', `${volume}:/data`, '-v', `${join(volume, 'kept')}:/etc/conf:ro`, loc]);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(out.stdout.trim().split('\n'), ['host', 'kept', 'written']);
    // What the command wrote went to the volume; the root's removal left the volume whole; hostDir stays empty.
    assert.deepEqual((await readdir(volume)).sort(), ['kept', 'written']);
    // A failed command leaves the volume whole too.
    assert.equal((await run(['-v', `${volume}:/data`, await image({ Cmd: ['sh', '-c', 'exit 3'] })])).code, 3);
    assert.deepEqual((await readdir(volume)).sort(), ['kept', 'written']);
    await assertClean();
  });

  test('a failing command and a refused image both leave nothing behind', async () => {
    const loc = await image({ Cmd: ['sh', '-c', 'exit 7'] });
    assert.equal((await run([loc])).code, 7);
    await assertClean();
    // As with docker run: a command that is not in the image exits 127.
    assertOneLine(await run([await image({ Cmd: ['/no/such/program'] })]), 127, /\/no\/such\/program: No such file or directory/);
    await assertClean();
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`${signal} stops the command and removes the temporary root`, async () => {
      const loc = await image({ Cmd: ['sh', '-c', 'echo started; sleep 60'] });
      const child = spawn(process.execPath, [CLI_PATH, 'run', loc], { env: { ...process.env, TMPDIR: runTemp }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      await new Promise<void>((resolve) => child.stdout.on('data', (c: Buffer) => c.toString().includes('started') && resolve()));
      assert.equal((await readdir(runTemp)).length, 1, 'the root exists while the command runs');
      const started = Date.now();
      child.kill(signal);
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.equal(code, signal === 'SIGINT' ? 130 : 143, stderr);
      assert.ok(Date.now() - started < 10_000);
      await assertClean();
    });
  }

  test('a symlinked temporary directory entry cannot redirect the removal', async () => {
    // The root is made by mkdtemp (a fresh name, never an existing link); removing it never follows links inside it.
    const loc = await image({ Cmd: ['sh', '-c', `ln -s ${hostDir} /tmp/link-${tag} && ln -s / /rootlink`] });
    await writeFile(join(hostDir, 'keep'), 'keep\n');
    try {
      assert.equal((await run([loc])).code, 0);
      assert.equal(await readFile(join(hostDir, 'keep'), 'utf8'), 'keep\n');
      assert.deepEqual(await readdir(runTemp), []);
    } finally {
      await rm(join(hostDir, 'keep'));
    }
    await symlink('/nonexistent', join(runTemp, `dangling-${tag}`));
    assert.equal((await run([await image({ Cmd: ['true'] })])).code, 0);
    await rm(join(runTemp, `dangling-${tag}`));
    await assertClean();
  });
});
