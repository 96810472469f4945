// `polyarch run` on a four-platform busybox index written to an OCI layout: each platform's image
// runs on its own machine (foreign ones through binfmt_misc), the config's entrypoint, cmd, env,
// user and workdir apply (and docker run's overrides of them, -v and --add-host), stdin and exit codes
// pass through, and no temporary root is left behind.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runImage } from '../../src/builder/run-image.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { PolyarchError } from '../../src/errors/polyarch-error.js';
import { pidNamespace } from '../../src/internal/temp-path.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { BUSYBOX_ARCHES, busyboxRoot, type BusyboxArch } from '../helpers/busybox.js';
import { startEmbedded } from '../helpers/embedded.js';
import { CLI_PATH, runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const ARCHES: readonly BusyboxArch[] = ['amd64', 'arm64', 'armhf', 'ppc64el'];

let scratch: { path: string; remove: () => Promise<void> };
let layout: string;
/** The parent of every temporary root in these tests: empty again after each run. */
let runTemp: string;

async function putBlob(bytes: Buffer): Promise<{ digest: string; size: number }> {
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(layout, 'blobs', 'sha256', hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

async function json(value: unknown): Promise<{ digest: string; size: number }> {
  return putBlob(Buffer.from(JSON.stringify(value)));
}

/** One gzip layer of the busybox root, owners numeric, made by tar (any archive would do). */
function packRoot(root: string, out: string): void {
  const result = spawnSync('tar', ['-C', root, '--numeric-owner', '-czf', out, '.'], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
}

async function makeIndex(): Promise<void> {
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const manifests = [];
  for (const arch of ARCHES) {
    const platform = parsePlatform(BUSYBOX_ARCHES[arch].platform);
    const tarFile = join(scratch.path, `${arch}.tar.gz`);
    packRoot(await busyboxRoot(arch), tarFile);
    const layerBytes = await readFile(tarFile);
    const layer = await putBlob(layerBytes);
    const diff = createHash('sha256').update(spawnSync('gzip', ['-dc', tarFile], { maxBuffer: 1 << 28 }).stdout).digest('hex');
    const config = await json({
      ...platform,
      config: {
        Entrypoint: ['/bin/env'],
        Cmd: ['sh', '-c', 'echo "default $GREETING in $(pwd) as $(id -u)"'],
        Env: ['PATH=/bin', 'GREETING=hello'],
        WorkingDir: '/srv/app',
        User: 'app',
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${diff}`] },
    });
    const manifest = await json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
    });
    manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform });
  }
  // An attestation entry, as buildx adds: never run.
  manifests.push({
    ...manifests[0]!,
    platform: { os: 'unknown', architecture: 'unknown' },
    annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': manifests[0]!.digest },
  });
  const index = await json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests });
  // An index whose arm64 image names a layer the layout lacks (a copy cut short): that platform cannot start.
  const arm64 = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', manifests[1]!.digest.slice(7)), 'utf8')) as { layers: { digest: string; size: number }[] };
  const absent = createHash('sha256').update('a layer nobody stored').digest('hex');
  const holeyArm64 = await json({ ...arm64, layers: [{ ...arm64.layers[0]!, digest: `sha256:${absent}`, size: 100 }] });
  const holey = await json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [manifests[0]!, { ...manifests[1]!, ...holeyArm64 }] });
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'org.opencontainers.image.ref.name': 'multi' } },
        { ...manifests[1]!, annotations: { 'org.opencontainers.image.ref.name': 'arm64-only' } },
        { mediaType: 'application/vnd.oci.image.index.v1+json', ...holey, annotations: { 'org.opencontainers.image.ref.name': 'holey' } },
      ],
    }),
  );
}

before(async () => {
  await ensureEmulation(ARCHES);
  scratch = await tempDir('polyarch-run-image-');
  layout = join(scratch.path, 'layout');
  runTemp = join(scratch.path, 'tmp');
  await mkdir(runTemp);
  await makeIndex();
});
after(async () => {
  await scratch.remove();
});

async function assertNothingLeft(): Promise<void> {
  assert.deepEqual(await readdir(runTemp), []);
}

describe('polyarch run', () => {
  test('--all-platforms prints one row per platform with its machine', async () => {
    const out = await runCli(['run', '--all-platforms', `oci:${layout}:multi`, '--', 'uname', '-m'], { env: { TMPDIR: runTemp } });
    assert.equal(out.stderr, '');
    assert.equal(out.code, 0);
    const rows = out.stdout.trim().split('\n').map((l) => l.split(/\s+/));
    assert.deepEqual(rows[0], ['PLATFORM', 'EXIT', 'OUTPUT']);
    assert.deepEqual(rows.slice(1), [
      ['linux/amd64', '0', 'x86_64'],
      ['linux/arm64', '0', 'aarch64'],
      ['linux/arm/v7', '0', 'armv7l'],
      ['linux/ppc64le', '0', 'ppc64le'],
    ]);
    await assertNothingLeft();
  });

  test('the same index pushed to a registry runs from there (the acceptance line)', async () => {
    const registry = await startEmbedded();
    try {
      const copied = await runCli(['copy', `oci:${layout}:multi`, `${registry.host}/busybox:multi`]);
      assert.equal(copied.code, 0, copied.stderr);
      const out = await runCli(['run', '--all-platforms', `${registry.host}/busybox:multi`, '--', 'uname', '-m'], { env: { TMPDIR: runTemp } });
      assert.equal(out.stderr, '');
      assert.equal(out.code, 0);
      assert.deepEqual(
        out.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/).join(' ')),
        ['linux/amd64 0 x86_64', 'linux/arm64 0 aarch64', 'linux/arm/v7 0 armv7l', 'linux/ppc64le 0 ppc64le'],
      );
      await assertNothingLeft();
    } finally {
      await registry.stop();
    }
  });

  test("one platform: the command's exit code is the CLI's", async () => {
    const out = await runCli(['run', '--platform', 'linux/arm64', `oci:${layout}:multi`, '--', 'sh', '-c', 'uname -m; exit 5'], { env: { TMPDIR: runTemp } });
    assert.equal(out.code, 5);
    assert.equal(out.stdout, 'aarch64\n');
    await assertNothingLeft();
  });

  test('a platform written as uname says it (aarch64) runs linux/arm64, and run says what it took it for', async () => {
    const out = await runCli(['run', '--platform', 'aarch64', `oci:${layout}:multi`, '--', 'uname', '-m'], { env: { TMPDIR: runTemp } });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stderr, 'notice: platform aarch64 is linux/arm64\n');
    assert.equal(out.stdout, 'aarch64\n');
    await assertNothingLeft();
  });

  test('as with docker run, every word after the image is the command\'s, options included, without --', async () => {
    const out = await runCli(['run', '--platform', 'linux/arm64', `oci:${layout}:multi`, 'sh', '-c', 'echo "$0 $1"; exit 4', '--json', '-x'], { env: { TMPDIR: runTemp } });
    assert.equal(out.stderr, '');
    assert.equal(out.code, 4);
    assert.equal(out.stdout, '--json -x\n');
    await assertNothingLeft();
  });

  test("--all-platforms exits non-zero when one fails, and shows each platform's code", async () => {
    const out = await runCli(['run', '--all-platforms', `oci:${layout}:multi`, '--', 'sh', '-c', 'echo "$(uname -m)"; [ "$(uname -m)" != ppc64le ] || exit 3'], { env: { TMPDIR: runTemp } });
    assert.equal(out.code, 1);
    assert.match(out.stdout, /^linux\/ppc64le\s+3\s+ppc64le$/m);
    assert.match(out.stdout, /^linux\/arm64\s+0\s+aarch64$/m);
    await assertNothingLeft();
  });

  test('--all-platforms: a platform whose image cannot be unpacked is a row of its own (exit 125, the reason), the others still run', async () => {
    const out = await runCli(['run', '--all-platforms', `oci:${layout}:holey`, '--', 'uname', '-m'], { env: { TMPDIR: runTemp } });
    assert.equal(out.code, 1, out.stderr);
    assert.equal(out.stderr, '');
    const rows = out.stdout.trim().split('\n').slice(1);
    assert.equal(rows.length, 2, out.stdout);
    assert.match(rows[0]!, /^linux\/amd64\s+0\s+x86_64$/);
    assert.match(rows[1]!, /^linux\/arm64\s+125\s+error: .*(not found|no blob|missing|does not exist)/i);
    const json = await runCli(['--json', 'run', '--all-platforms', `oci:${layout}:holey`, '--', 'uname', '-m'], { env: { TMPDIR: runTemp } });
    const parsed = JSON.parse(json.stdout) as { platform: string; exitCode: number; error?: string }[];
    assert.deepEqual(parsed.map((r) => [r.platform, r.exitCode, typeof r.error]), [['linux/amd64', 0, 'undefined'], ['linux/arm64', 125, 'string']]);
    // Alone, the same platform's failure is the command's error, as before.
    const alone = await runCli(['run', '--platform', 'linux/arm64', `oci:${layout}:holey`, '--', 'true'], { env: { TMPDIR: runTemp } });
    assert.notEqual(alone.code, 0);
    assert.equal(alone.stdout, '');
    assert.equal(alone.stderr.trim().split('\n').length, 1, alone.stderr);
    await assertNothingLeft();
  });

  test('a plain path runs as inspect reads it: an archive file, or a layout directory; a path naming nothing says so', async () => {
    const archive = join(scratch.path, 'by-path.tar');
    const exported = await runCli(['copy', `oci:${layout}:arm64-only`, `oci-archive:${archive}`]);
    assert.equal(exported.code, 0, exported.stderr);
    const fromFile = await runCli(['run', archive, '--', 'uname', '-m'], { env: { TMPDIR: runTemp } });
    assert.equal(fromFile.stderr, '');
    assert.equal(fromFile.stdout, 'aarch64\n');
    const single = join(scratch.path, 'single-layout');
    const copied = await runCli(['copy', `oci:${layout}:arm64-only`, `oci:${single}`]);
    assert.equal(copied.code, 0, copied.stderr);
    const fromDir = await runCli(['run', `${single}/`, '--', 'uname', '-m'], { env: { TMPDIR: runTemp } });
    assert.equal(fromDir.stderr, '');
    assert.equal(fromDir.stdout, 'aarch64\n');
    for (const [args, pattern] of [
      [['run', join(scratch.path, 'nosuch.tar')], /nosuch\.tar: no such file \[NOT_FOUND\]/],
      [['run', 'nosuch.tar', '--', 'true'], /^polyarch: nosuch\.tar: no such file \[NOT_FOUND\]$/m],
      [['inspect', './nosuch.tar'], /\.\/nosuch\.tar: no such file \[NOT_FOUND\]/],
      [['run', `${runTemp}/`], /is a directory without an oci-layout file/],
    ] as const) {
      const out = await runCli([...args], { env: { TMPDIR: runTemp } });
      assert.notEqual(out.code, 0, args.join(' '));
      assert.equal(out.stdout, '');
      assert.equal(out.stderr.trim().split('\n').length, 1, out.stderr);
      assert.match(out.stderr, pattern);
      assert.doesNotMatch(out.stderr, /docker\.io|ENOTFOUND/);
    }
    await assertNothingLeft();
  });

  test("the default runs the config's entrypoint and cmd with its env, workdir and user", async () => {
    const out = await runCli(['run', '--platform', 'linux/arm/v7', `oci:${layout}:multi`], { env: { TMPDIR: runTemp } });
    assert.equal(out.stderr, '');
    assert.equal(out.code, 0);
    assert.equal(out.stdout, 'default hello in /srv/app as 1000\n');
    await assertNothingLeft();
  });

  test("docker run's overrides: --entrypoint (the image's cmd dropped with it), -e, -u and -w (made when missing)", async () => {
    const loc = `oci:${layout}:multi`;
    const env = { TMPDIR: runTemp, FROM_HOST: 'outside' };
    const all = await runCli(['run', '--platform', 'linux/arm64', '--entrypoint', '/bin/sh', '-e', 'GREETING=hi', '-e', 'FROM_HOST', '-e', 'NOT_SET_ANYWHERE', '-u', '0', '-w', '/made/here', loc, '-c', 'echo "$GREETING $FROM_HOST ${NOT_SET_ANYWHERE-unset} $(pwd) $(id -u)"'], { env });
    assert.equal(all.stderr, '');
    assert.equal(all.stdout, 'hi outside unset /made/here 0\n');
    // The image's cmd (sh -c 'echo default …') goes with its entrypoint: echo gets no words.
    const alone = await runCli(['run', '--platform', 'linux/arm/v7', '--entrypoint', '/bin/echo', loc], { env });
    assert.deepEqual([alone.code, alone.stdout, alone.stderr], [0, '\n', '']);
    // --entrypoint "" leaves none: the words after the image are the whole command.
    const none = await runCli(['run', '--all-platforms', '--entrypoint', '', loc, 'uname', '-m'], { env });
    assert.equal(none.code, 0, none.stderr);
    assert.deepEqual(none.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/).join(' ')), ['linux/amd64 0 x86_64', 'linux/arm64 0 aarch64', 'linux/arm/v7 0 armv7l', 'linux/ppc64le 0 ppc64le']);
    const nothing = await runCli(['run', '--entrypoint', '', loc], { env });
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /^polyarch: the linux\/amd64 image has no entrypoint or command: name one after the image \[USAGE\]\n$/);
    // --add-host names come first in the command's /etc/hosts, as docker run writes them.
    const hosts = await runCli(['run', '--platform', 'linux/arm64', '--entrypoint', '', '--add-host', 'db:10.0.0.5', '--add-host', 'gw=host-gateway', loc, 'head', '-2', '/etc/hosts'], { env });
    assert.deepEqual([hosts.code, hosts.stdout, hosts.stderr], [0, '10.0.0.5\tdb\n127.0.0.1\tgw\n', '']);
    const relative = await runCli(['run', '-w', 'srv', loc], { env });
    assert.deepEqual([relative.code, relative.stderr], [2, 'polyarch: --workdir (workdir) "srv" must be an absolute path, as docker run -w takes it [USAGE]\n']);
    await assertNothingLeft();
  });

  test('-v shows host paths inside the image, writable unless :ro, on every platform; -i is taken and -t refused in one line', async () => {
    const loc = `oci:${layout}:multi`;
    const env = { TMPDIR: runTemp };
    const shared = join(scratch.path, 'volume');
    await mkdir(shared);
    await chmod(shared, 0o777); // the image's user (1000) writes there below
    await writeFile(join(shared, 'given'), 'from the host\n');
    // Each platform writes its machine into the same host directory, and reads a host file mounted read-only.
    const all = await runCli(['run', '--all-platforms', '--entrypoint', '', '-v', `${shared}:/data`, '-v', `${join(shared, 'given')}:/etc/given:ro`, loc, 'sh', '-c', 'uname -m > /data/$(uname -m); cat /etc/given'], { env });
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(all.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/).slice(1).join(' ')), ['0 from the host', '0 from the host', '0 from the host', '0 from the host']);
    assert.deepEqual((await readdir(shared)).sort(), ['aarch64', 'armv7l', 'given', 'ppc64le', 'x86_64']);
    assert.equal(await readFile(join(shared, 'armv7l'), 'utf8'), 'armv7l\n');
    // :ro is read-only; a path relative to the working directory is the host's, as docker reads ./dir.
    const readOnly = await runCli(['run', '-i', '--entrypoint', '', '-v', './volume:/data:ro', loc, 'sh', '-c', 'cat /data/given; cat > /data/new'], { env, cwd: scratch.path, input: 'ignored\n' });
    assert.equal(readOnly.code, 1);
    assert.equal(readOnly.stdout, 'from the host\n');
    assert.match(readOnly.stderr, /Read-only file system/);
    assert.equal(existsSync(join(shared, 'new')), false);
    // The image's user writes as itself (uid 1000 in this image).
    const asApp = await runCli(['run', '--platform', 'linux/arm64', '--entrypoint', '', '-v', `${shared}:/srv/app/out`, loc, 'touch', '/srv/app/out/by-app'], { env });
    assert.equal(asApp.code, 0, asApp.stderr);
    assert.equal(statSync(join(shared, 'by-app')).uid, 1000);
    for (const [args, code, message] of [
      [['-t'], 2, '-t (--tty): polyarch run gives the command pipes, not a terminal; leave out -t (for a shell that prompts, run sh -i) [USAGE]'],
      [['-v', 'cache:/cache'], 2, '-v "cache:/cache": "cache" would be a named volume, which needs a docker daemon; give a host path (/abs/dir or ./dir) [USAGE]'],
      [['-v', `${shared}:/data:z`], 2, `-v "${shared}:/data:z": unknown option "z" (ro or rw) [USAGE]`],
      [['-v', `${shared}/missing:/data`], 1, `volume "${shared}/missing:/data": the host path ${shared}/missing does not exist [NOT_FOUND]`],
      [['-v', `${shared}:data`], 2, `volume "${shared}:data": the path in the image must be absolute [USAGE]`],
      [['-v', `${shared}:/`], 2, `volume "${shared}:/": cannot be mounted at / (the image's root) [USAGE]`],
      [['-v', `${shared}:/a`, '-v', `${shared}:/a/`], 2, `volume "${shared}:/a/": /a is already a mount point [USAGE]`],
    ] as const) {
      const out = await runCli(['run', ...args, loc, 'true'], { env });
      assert.deepEqual([out.code, out.stderr], [code, `polyarch: ${message}\n`]);
    }
    // Docker's -it, the habit: one line too.
    assert.equal((await runCli(['run', '-it', loc, 'sh'], { env })).code, 2);
    await assertNothingLeft();
    assert.deepEqual((await readdir(shared)).sort(), ['aarch64', 'armv7l', 'by-app', 'given', 'ppc64le', 'x86_64'], 'removing the root left the host directory alone');
  });

  test("files and directories keep their layer's modification times, not the unpack's", async () => {
    const root = await busyboxRoot('arm64');
    const expected = [join(root, 'bin', 'busybox'), join(root, 'bin')].map((p) => String(Math.floor(statSync(p).mtimeMs / 1000)));
    const out = await runCli(['run', '--platform', 'linux/arm64', `oci:${layout}:multi`, '--', 'stat', '-c', '%Y', '/bin/busybox', '/bin'], { env: { TMPDIR: runTemp } });
    assert.equal(out.stderr, '');
    assert.deepEqual(out.stdout.trim().split('\n'), expected);
    // The source root is older than this run: a time taken now would not match.
    assert.ok(Number(expected[0]) < Date.now() / 1000 - 5, 'the fixture is made more than a few seconds before');
    await assertNothingLeft();
  });

  test('docker run habits: --rm is taken, HOSTNAME names the host the command sees, and a table cell stays one short row', async () => {
    const out = await runCli(['run', '--rm', '--platform', 'linux/arm64', `oci:${layout}:multi`, 'sh', '-c', 'echo "$HOSTNAME $(hostname)"'], { env: { TMPDIR: runTemp } });
    assert.equal(out.stderr, '');
    assert.equal(out.stdout, 'polyarch polyarch\n');
    const long = await runCli(['run', '--all-platforms', `oci:${layout}:multi`, '--', 'sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" a'], { env: { TMPDIR: runTemp } });
    assert.equal(long.code, 0, long.stderr);
    const rows = long.stdout.trim().split('\n').slice(1);
    assert.equal(rows.length, 4);
    for (const row of rows) assert.match(row, /^\S+\s+0\s+a{199}…$/);
    await assertNothingLeft();
  });

  test('standard input passes through', async () => {
    const out = await runCli(['run', `oci:${layout}:multi`, '--', 'sh', '-c', 'tr a-z A-Z'], { env: { TMPDIR: runTemp }, input: 'piped text\n' });
    assert.equal(out.stderr, '');
    assert.equal(out.code, 0);
    assert.equal(out.stdout, 'PIPED TEXT\n');
    await assertNothingLeft();
  });

  /** Resolves once `pid` has ended (gone, or a zombie its new parent has not reaped yet); fails after 5 s. */
  async function waitUntilEnded(pid: number): Promise<void> {
    for (const until = Date.now() + 5_000; ; ) {
      let state: string | undefined;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      } catch {
        return;
      }
      if (state === 'Z' || state === 'X') return;
      assert.ok(Date.now() < until, `process ${pid} (${readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')}) still runs after polyarch was killed`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Starts `polyarch run` of `script` on arm64 (emulated) and resolves once it has printed "started". */
  async function startRun(script: string): Promise<{ child: ChildProcess; output: () => { stdout: string; stderr: string }; closed: Promise<number | null> }> {
    const child = spawn(process.execPath, [CLI_PATH, 'run', '--platform', 'linux/arm64', `oci:${layout}:multi`, '--', 'sh', '-c', script], {
      env: { ...process.env, TMPDIR: runTemp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise<void>((resolve) => child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()).includes('started') && resolve()));
    return { child, output: () => ({ stdout, stderr }), closed };
  }

  test('Ctrl-C reaches the command, as docker run passes it on: it ends by it (130) and the root is removed', async () => {
    const run = await startRun('echo started; sleep 30');
    const started = Date.now();
    run.child.kill('SIGINT');
    assert.equal(await run.closed, 130, run.output().stderr);
    assert.ok(Date.now() - started < 10_000);
    // polyarch was not interrupted: the command was, and its code is the run's.
    assert.equal(run.output().stderr, '');
    await assertNothingLeft();
  });

  test('SIGTERM reaches the command, which stops its own way with its own exit code', async () => {
    const run = await startRun('trap "echo got TERM; exit 7" TERM; echo started; while :; do sleep 0.1; done');
    run.child.kill('SIGTERM');
    assert.equal(await run.closed, 7, run.output().stderr);
    assert.equal(run.output().stdout, 'started\ngot TERM\n');
    await assertNothingLeft();
  });

  test('a command that ignores the signal is stopped by the next one (a copy within half a second is the same request)', async () => {
    const run = await startRun('trap "" INT TERM; echo started; sleep 30');
    run.child.kill('SIGTERM');
    run.child.kill('SIGTERM'); // as `timeout` signals the process and then its group
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(run.child.exitCode, null, 'still running: the command ignored the signal passed on');
    run.child.kill('SIGTERM');
    assert.equal(await run.closed, 143);
    assert.equal(run.output().stderr, 'polyarch: terminated [INTERRUPTED]\n');
    await assertNothingLeft();
  });

  test('a run killed outright (SIGKILL) leaves its root; the next run removes it, and nothing a live run or a link holds', async () => {
    const child = spawn(process.execPath, [CLI_PATH, 'run', '--platform', 'linux/arm64', `oci:${layout}:multi`, '--', 'sh', '-c', 'echo started; sleep 30'], {
      env: { ...process.env, TMPDIR: runTemp },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await new Promise<void>((resolve) => child.stdout.on('data', (c: Buffer) => c.toString().includes('started') && resolve()));
    // What polyarch started (bwrap, the namespace holder) dies with it.
    const started = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').split(' ').filter((p) => p !== '').map(Number);
    assert.ok(started.length >= 2, `bwrap and the namespace holder: ${started.join(' ')}`);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('close', resolve));
    for (const pid of started) await waitUntilEnded(pid);
    const left = await readdir(runTemp);
    assert.equal(left.length, 1, 'the killed run left its root');
    // Beside it: a live process's root (this test's pid), and a link planted under a dead pid's name.
    const ns = pidNamespace() ? `n${pidNamespace()}` : '';
    const live = join(runTemp, `.run-${process.pid}${ns}-aaaaaaaaaaaa.polyarch-tmp`);
    await mkdir(join(live, 'inside'), { recursive: true });
    const victim = join(scratch.path, 'victim');
    await mkdir(victim, { recursive: true });
    await writeFile(join(victim, 'keep'), 'keep\n');
    const planted = join(runTemp, `.run-${left[0]!.split('-')[1]!.replace(/n\d+$/, '')}${ns}-bbbbbbbbbbbb.polyarch-tmp`);
    await symlink(victim, planted);
    const next = await runCli(['run', '--platform', 'linux/arm64', `oci:${layout}:multi`, '--', 'true'], { env: { TMPDIR: runTemp } });
    assert.equal(next.code, 0, next.stderr);
    assert.deepEqual((await readdir(runTemp)).sort(), [planted, live].map((p) => p.slice(runTemp.length + 1)).sort(), "the dead run's root is gone; the live one and the link are not");
    assert.equal(await readFile(join(victim, 'keep'), 'utf8'), 'keep\n');
    await rm(live, { recursive: true });
    await rm(planted);
    await assertNothingLeft();
  });

  test('a reader that goes away (| head -1) stops the command and removes the root, quietly, exit 0', async () => {
    // `yes` writes until its output breaks: polyarch's standard output closes under it.
    const child = spawn(process.execPath, [CLI_PATH, 'run', '--platform', 'linux/arm64', `oci:${layout}:multi`, '--', 'yes'], {
      env: { ...process.env, TMPDIR: runTemp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
    await assertNothingLeft();
  });

  test('a single image runs on its own platform, and names it when another is asked for', async () => {
    const out = await runCli(['run', `oci:${layout}:arm64-only`, '--', 'uname', '-m'], { env: { TMPDIR: runTemp } });
    assert.equal(out.stderr, '');
    assert.equal(out.stdout, 'aarch64\n');
    const all = await runCli(['run', '--all-platforms', `oci:${layout}:arm64-only`, '--', 'uname', '-m'], { env: { TMPDIR: runTemp } });
    assert.match(all.stdout, /^linux\/arm64\s+0\s+aarch64$/m);
    const archive = join(scratch.path, 'arm64.tar');
    const exported = await runCli(['copy', `oci:${layout}:arm64-only`, `docker-archive:${archive}:busybox:arm64`]);
    assert.equal(exported.code, 0, exported.stderr);
    const fromArchive = await runCli(['run', `docker-archive:${archive}`], { env: { TMPDIR: runTemp } });
    assert.equal(fromArchive.stderr, '');
    assert.equal(fromArchive.stdout, 'default hello in /srv/app as 1000\n');
    const wrong = await runCli(['run', '--platform', 'linux/amd64', `oci:${layout}:arm64-only`, '--', 'true'], { env: { TMPDIR: runTemp } });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /linux\/arm64.*linux\/amd64/);
    await assertNothingLeft();
  });

  test('a platform the index lacks is one line naming the platforms it has', async () => {
    const out = await runCli(['run', '--platform', 'linux/s390x', `oci:${layout}:multi`, '--', 'true'], { env: { TMPDIR: runTemp } });
    assert.equal(out.code, 1);
    assert.equal(out.stdout, '');
    assert.equal(out.stderr.trim().split('\n').length, 1, out.stderr);
    assert.match(out.stderr, /linux\/s390x/);
    assert.match(out.stderr, /linux\/amd64, linux\/arm64, linux\/arm\/v7, linux\/ppc64le/);
    await assertNothingLeft();
  });

  test('a platform without an emulation handler stops before anything is pulled, naming the fix', async () => {
    const proc = join(scratch.path, 'no-proc');
    await mkdir(proc, { recursive: true });
    await assert.rejects(
      runImage({ location: `oci:${layout}:multi`, platform: parsePlatform('linux/arm64'), command: ['true'], tempDir: runTemp, binfmt: { procRoot: proc } }),
      (error: Error & { code?: string }) => error.code === 'EMULATION_MISSING' && /linux\/arm64/.test(error.message) && /polyarch binfmt --install/.test(error.message),
    );
    await assertNothingLeft();
  });

  test('the library call returns each platform with its code and first line; an abort leaves nothing behind', async () => {
    const results = await runImage({ location: `oci:${layout}:multi`, allPlatforms: true, command: ['sh', '-c', 'printf "%s\\nsecond\\n" "$GREETING"'], tempDir: runTemp });
    assert.deepEqual(
      results.map((r) => [r.platform.architecture, r.exitCode, r.firstLine]),
      [
        ['amd64', 0, 'hello'],
        ['arm64', 0, 'hello'],
        ['arm', 0, 'hello'],
        ['ppc64le', 0, 'hello'],
      ],
    );
    const controller = new AbortController();
    const running = runImage({ location: `oci:${layout}:multi`, platform: parsePlatform('linux/arm64'), command: ['sleep', '30'], tempDir: runTemp, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stopped')), 1500);
    await assert.rejects(running, (error: unknown) => error instanceof PolyarchError && error.code === 'INTERRUPTED');
    await assertNothingLeft();
  });
});
