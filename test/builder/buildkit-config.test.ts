// What a Dockerfile's image config and outputs hold where buildx (BuildKit) has a rule a user
// relies on, read back by skopeo: a scratch image's PATH and working directory, ENTRYPOINT
// dropping the base's CMD, a platform named twice built once, a push with no tag refused, an OCI
// layout output that carries no name of the build cache's, a FROM that names no image reported on
// its line, and buildx's `-f -`, --iidfile and --load.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildSuite } from '../helpers/build-suite.js';
import { runCli } from '../helpers/run-cli.js';

const exec = promisify(execFile);
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface Settings {
  readonly Env?: string[];
  readonly Cmd?: string[];
  readonly Entrypoint?: string[];
  readonly WorkingDir?: string;
  readonly StopSignal?: string;
}

describe('build: image config as BuildKit makes it', () => {
  const suite = buildSuite();

  /** Builds `dockerfile` for linux/amd64 into an OCI layout and returns its config's settings, as skopeo reads them. */
  async function built(name: string, dockerfile: string, extra: readonly string[] = []): Promise<Settings> {
    const context = join(suite.dir.path, name);
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), dockerfile);
    await writeFile(join(context, 'f'), 'f\n');
    const out = await runCli(['build', '-q', '--platform', 'linux/amd64', ...extra, '-o', `oci:${join(context, 'out')}:t`, context], { env: suite.env });
    assert.equal(out.code, 0, out.stderr);
    const config = JSON.parse((await exec('skopeo', ['inspect', '--config', `oci:${join(context, 'out')}:t`])).stdout) as { config?: Settings };
    return config.config ?? {};
  }

  test('FROM scratch starts with PATH and WorkingDir set, as BuildKit does', async () => {
    const plain = await built('scratch', 'FROM scratch\nCOPY f /f\n');
    assert.deepEqual(plain.Env, [`PATH=${DEFAULT_PATH}`]);
    assert.equal(plain.WorkingDir, '/');
    const extended = await built('scratch-path', 'FROM scratch\nENV PATH=$PATH:/opt/bin\nCOPY f /f\n');
    assert.deepEqual(extended.Env, [`PATH=${DEFAULT_PATH}:/opt/bin`], 'PATH extends the default, not an empty one');
  });

  test('ENV and ARG values keep what single quotes and escapes protect, and an ENV line reads the values from before it (the Dockerfile reference)', async () => {
    const settings = await built('quoting', [
      'FROM scratch',
      "ARG P1='$lit' P2=\\$esc",
      "ENV B='$lit' C=\\$esc D=\"dq \\$x $P1\" E=a\\ b",
      'ENV abc=hello',
      'ENV abc=bye def=$abc',
      'ENV ghi=$abc',
      'COPY f /f',
      '',
    ].join('\n'));
    assert.deepEqual(settings.Env, [`PATH=${DEFAULT_PATH}`, 'B=$lit', 'C=$esc', 'D=dq $x $lit', 'E=a b', 'abc=bye', 'def=hello', 'ghi=bye']);
  });

  test("ENTRYPOINT drops the base's CMD, and keeps one the stage gave", async () => {
    const base = `${suite.reg.host}/with-cmd:1`;
    const pushed = await runCli(['build', '-q', '--platform', 'linux/amd64', '-t', base, '--push', await contextOf('base', 'FROM scratch\nCOPY f /f\nCMD ["/bin/sh"]\n')], { env: suite.env });
    assert.equal(pushed.code, 0, pushed.stderr);
    const dropped = await built('entrypoint', `FROM ${base}\nENTRYPOINT ["echo","ep"]\n`);
    assert.deepEqual(dropped.Entrypoint, ['echo', 'ep']);
    assert.equal(dropped.Cmd, undefined, "the base's CMD was its own entrypoint's arguments");
    const keptBefore = await built('cmd-first', `FROM ${base}\nCMD ["x"]\nENTRYPOINT ["echo"]\n`);
    assert.deepEqual(keptBefore.Cmd, ['x']);
    const keptAfter = await built('cmd-after', `FROM ${base}\nENTRYPOINT ["echo"]\nCMD ["y"]\n`);
    assert.deepEqual(keptAfter.Cmd, ['y']);
    const inherited = await built('cmd-inherited', `FROM ${base}\nENV A=1\n`);
    assert.deepEqual(inherited.Cmd, ['/bin/sh'], 'without an ENTRYPOINT the CMD stays');
  });

  test('a platform named twice is built once; a push with no tag and a FROM with no image are refused in one line', async () => {
    const context = await contextOf('twice', 'FROM scratch\nCOPY f /f\n');
    const layout = join(context, 'out');
    const out = await runCli(['build', '-q', '--platform', 'linux/amd64,x86_64', '-o', `oci:${layout}`, context], { env: suite.env });
    assert.equal(out.code, 0, out.stderr);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    assert.equal(index.manifests.length, 1);
    assert.equal(index.manifests[0]!.annotations?.['org.opencontainers.image.ref.name'], undefined, 'no name of the build cache leaks into the layout');
    const built = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', index.manifests[0]!.digest.slice('sha256:'.length)), 'utf8')) as { manifests: unknown[] };
    assert.equal(built.manifests.length, 1, 'one index entry for linux/amd64');
    // What normalization changed is said, so what is built is no surprise.
    const said = await runCli(['build', '--progress', 'quiet', '--platform', 'x86_64,linux/arm', '-o', `oci:${join(context, 'said')}`, context], { env: suite.env });
    assert.equal(said.code, 0, said.stderr);
    assert.match(said.stderr, /^notice: platform x86_64 is linux\/amd64\nnotice: platform linux\/arm is linux\/arm\/v7\n/);

    // buildx's `-f -` and --iidfile: the Dockerfile from standard input, the digest written to a file.
    const iidfile = join(context, 'iid');
    const piped = await runCli(['build', '-q', '--platform', 'linux/amd64', '-f', '-', '--iidfile', iidfile, context], { env: suite.env, input: 'FROM scratch\nCOPY f /piped\n' });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(await readFile(iidfile, 'utf8'), piped.stdout.trim());
    assert.notEqual(piped.stdout.trim(), out.stdout.trim(), 'the piped Dockerfile was built, not the context one');
    const load = await runCli(['build', '--platform', 'linux/amd64', '--load', context], { env: suite.env });
    assert.equal(load.code, 2);
    assert.match(load.stderr, /^polyarch: --load: there is no Docker daemon .*\[USAGE\]\n$/);
    // buildx scripts turn its attestations off; polyarch makes none, so false is taken and builds the same index.
    const plain = await runCli(['build', '-q', '--platform', 'linux/amd64', '--provenance=false', '--sbom', 'false', '-f', '-', context], { env: suite.env, input: 'FROM scratch\nCOPY f /piped\n' });
    assert.deepEqual([plain.code, plain.stdout, plain.stderr], [0, piped.stdout, '']);
    // buildx's cache flags: what its docker driver does with them, a notice and the same build.
    const cached = await runCli(['build', '--progress', 'quiet', '--platform', 'linux/amd64', '--cache-from', 'type=gha', '--cache-to', 'type=registry,ref=r/c,mode=max', '-f', '-', context], { env: suite.env, input: 'FROM scratch\nCOPY f /piped\n' });
    assert.equal(cached.code, 0, cached.stderr);
    assert.equal(cached.stdout, piped.stdout);
    assert.equal(
      cached.stderr,
      "notice: --cache-from type=gha is ignored: the build cache is polyarch's own, on disk ($XDG_CACHE_HOME/polyarch/build)\n" +
        "notice: --cache-to type=registry,ref=r/c,mode=max is ignored: the build cache is polyarch's own, on disk ($XDG_CACHE_HOME/polyarch/build)\n" +
        'notice: no --push or --output given; the result stays in the build cache only\n',
    );
    for (const [flag, value] of [['--provenance', 'mode=max'], ['--sbom', 'true']] as const) {
      const asked = await runCli(['build', '--platform', 'linux/amd64', `${flag}=${value}`, context], { env: suite.env });
      assert.deepEqual([asked.code, asked.stderr], [2, `polyarch: ${flag}=${value}: polyarch adds no attestations to the index; only ${flag}=false, what it always does, is taken [USAGE]\n`]);
    }

    const push = await runCli(['build', '--platform', 'linux/amd64', '--push', context], { env: suite.env });
    assert.equal(push.code, 2);
    assert.equal(push.stderr, 'polyarch: push needs at least one tag to push to (-t NAME) [USAGE]\n');

    const noImage = await runCli(['build', '--platform', 'linux/amd64', await contextOf('empty-tag', `ARG TAG\nFROM ${suite.reg.host}/with-cmd:\${TAG}\n`)], { env: suite.env });
    assert.equal(noImage.code, 2);
    assert.match(noImage.stderr, /^polyarch: \S*Dockerfile:2: base image \S+: invalid reference .*\[INVALID_REFERENCE\]\n$/);
  });

  test('COPY and ADD keep their flags in the history (as BuildKit records them), and a here-document title shows each flag once', async () => {
    const context = await contextOf('history', 'FROM scratch\nCOPY --chmod=644 --link f /f\nCOPY --chmod=755 <<EOF /start.sh\necho hi\nEOF\n');
    const out = await runCli(['build', '--progress', 'plain', '--platform', 'linux/amd64', '-o', `oci:${join(context, 'out')}:t`, context], { env: suite.env });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stderr, /^\[linux\/amd64 2\/2\] COPY --chmod=755 <<EOF \/start\.sh/m);
    const config = JSON.parse((await exec('skopeo', ['inspect', '--config', `oci:${join(context, 'out')}:t`])).stdout) as { history: { created_by: string }[] };
    assert.deepEqual(
      config.history.map((h) => h.created_by),
      ['COPY --chmod=644 --link f /f', 'COPY --chmod=755 <<EOF /start.sh'],
    );
  });

  test('ADD unpacks a tar however docker reads it (gzip, bzip2, xz, zstd) and copies any other file, a gzipped text included', async () => {
    const context = await contextOf('add-archives', 'FROM scratch\nADD x.tar.gz /gz/\nADD x.tar.bz2 /bz2/\nADD x.tar.xz /xz/\nADD x.tar.zst /zst/\nADD notes.txt.gz /notes/\nADD fake.tar.xz /fake/\n');
    await mkdir(join(context, 'td'));
    await writeFile(join(context, 'td', 'inside'), 'inside\n');
    await exec('tar', ['-cf', 'x.tar', 'td'], { cwd: context });
    await exec('sh', ['-c', 'gzip -kc x.tar > x.tar.gz && bzip2 -kc x.tar > x.tar.bz2 && xz -kc x.tar > x.tar.xz && zstd -qc x.tar > x.tar.zst && printf "notes\\n" | gzip -c > notes.txt.gz && printf "not a tar\\n" | xz -c > fake.tar.xz'], { cwd: context });
    const dest = join(context, 'out-local');
    const out = await runCli(['build', '-q', '--platform', 'linux/amd64', '-o', `type=local,dest=${dest}`, context], { env: suite.env });
    assert.equal(out.code, 0, out.stderr);
    for (const kind of ['gz', 'bz2', 'xz', 'zst']) assert.equal(await readFile(join(dest, kind, 'td', 'inside'), 'utf8'), 'inside\n', kind);
    assert.deepEqual(await readFile(join(dest, 'notes', 'notes.txt.gz')), await readFile(join(context, 'notes.txt.gz')), 'a gzipped text is copied as it is');
    assert.deepEqual(await readFile(join(dest, 'fake', 'fake.tar.xz')), await readFile(join(context, 'fake.tar.xz')), 'an xz file that holds no tar is copied');
  });

  test('WORKDIR makes its directory (and missing parents) in a layer, owned by the USER, as BuildKit does; COPY --from reads it', async () => {
    // Nothing writes into /app, yet another stage copies it: it was "not found".
    const context = await contextOf('workdir', 'FROM scratch AS base\nUSER 1234:5678\nWORKDIR /home/u\nWORKDIR /home\nFROM scratch\nCOPY --from=base /home /copied\n');
    const layout = join(context, 'out');
    const first = await runCli(['build', '-q', '--platform', 'linux/amd64', '--target', 'base', '-o', `oci:${layout}:base`, context], { env: suite.env });
    assert.equal(first.code, 0, first.stderr);
    const blob = async <T>(digest: string): Promise<T> => JSON.parse(await readFile(join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as T;
    const index = JSON.parse((await exec('skopeo', ['inspect', '--raw', `oci:${layout}:base`])).stdout) as { manifests: { digest: string }[] };
    const manifest = await blob<{ layers: { digest: string }[] }>(index.manifests[0]!.digest);
    assert.equal(manifest.layers.length, 1, 'one layer: the second WORKDIR names a directory the stage has');
    const listing = (await exec('tar', ['-tvzf', join(layout, 'blobs', 'sha256', manifest.layers[0]!.digest.slice(7)), '--numeric-owner'])).stdout;
    // BuildKit makes missing parents with the same owner (MkdirAllAndChownNew).
    assert.match(listing, /^drwxr-xr-x 1234\/5678 .* home\/?$/m, "a missing parent is the USER's");
    assert.match(listing, /^drwxr-xr-x 1234\/5678 .* home\/u\/?$/m, "the directory is the USER's");
    const config = JSON.parse((await exec('skopeo', ['inspect', '--config', `oci:${layout}:base`])).stdout) as { config: Settings; history: { created_by: string; empty_layer?: boolean }[] };
    assert.equal(config.config.WorkingDir, '/home');
    assert.deepEqual(config.history.map((h) => [h.created_by, h.empty_layer === true]), [['USER 1234:5678', true], ['WORKDIR /home/u', false], ['WORKDIR /home', true]]);
    const copied = await runCli(['build', '-q', '--platform', 'linux/amd64', '-o', `type=local,dest=${join(context, 'local')}`, context], { env: suite.env });
    assert.equal(copied.code, 0, copied.stderr);
    assert.ok((await stat(join(context, 'local', 'copied', 'u'))).isDirectory());
    // A USER the stage cannot name owns nothing: one line, in WORKDIR's words.
    const nobody = await runCli(['build', '--platform', 'linux/amd64', await contextOf('workdir-user', 'FROM scratch\nUSER app\nWORKDIR /w\n')], { env: suite.env });
    assert.equal(nobody.code, 2);
    assert.match(nobody.stderr, /Dockerfile:3: WORKDIR \/w as USER app: user "app" is not in the image's \/etc\/passwd \[USAGE\]\n$/);
  });

  test('STOPSIGNAL takes what docker takes (a number, a name with or without SIG, RTMIN+n) and refuses the rest on its line', async () => {
    for (const [given, kept] of [['SIGTERM', 'SIGTERM'], ['9', '9'], ['quit', 'quit'], ['SIGRTMIN+3', 'SIGRTMIN+3']] as const) {
      assert.equal((await built(`signal-${kept.replace(/\W/g, '')}`, `FROM scratch\nARG S=${given}\nSTOPSIGNAL $S\nCOPY f /f\n`)).StopSignal, kept);
    }
    const refused = await runCli(['build', '--platform', 'linux/amd64', await contextOf('bad-signal', 'FROM scratch\nSTOPSIGNAL SIGFOO\n')], { env: suite.env });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^polyarch: \S*Dockerfile:2: STOPSIGNAL SIGFOO: not a signal .*\[USAGE\]\n$/);
  });

  async function contextOf(name: string, dockerfile: string): Promise<string> {
    const context = join(suite.dir.path, name);
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), dockerfile);
    await writeFile(join(context, 'f'), 'f\n');
    return context;
  }
});
