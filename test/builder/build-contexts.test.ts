// `polyarch build --build-context NAME=…`, as buildx takes it, end to end on a busybox base (arm64
// through qemu): a directory context read by COPY --from, RUN --mount=from and FROM with its own
// .dockerignore, image contexts (docker-image://, oci-layout://) standing for a base image and for a
// stage, which is then not built, and the values refused in one line.
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { buildSuite } from '../helpers/build-suite.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { storeBusyboxIndex } from '../helpers/busybox-index.js';
import { runCli } from '../helpers/run-cli.js';

describe('build --build-context', { timeout: 600_000 }, () => {
  const suite = buildSuite();
  let base = '';
  let layout = '';
  let context = '';
  let other = '';

  before(async () => {
    await ensureEmulation(['amd64', 'arm64']);
    base = `${suite.reg.host}/busybox:contexts`;
    await storeBusyboxIndex(base, ['amd64', 'arm64'], suite.dir.path);
    layout = join(suite.dir.path, 'layout');
    await storeBusyboxIndex(`oci:${layout}:bb`, ['amd64', 'arm64'], join(suite.dir.path, 'layout-work'));
    context = join(suite.dir.path, 'ctx');
    other = join(suite.dir.path, 'other');
    await mkdir(context);
    await mkdir(join(other, 'sub'), { recursive: true });
    await writeFile(join(other, 'kept'), 'from the other context\n');
    await writeFile(join(other, 'sub', 'deep'), 'deep\n');
    await writeFile(join(other, 'dropped'), 'its .dockerignore drops this\n');
    await writeFile(join(other, '.dockerignore'), 'dropped\n');
    // The main context's own file of the same name: COPY --from=other must not read it.
    await writeFile(join(context, 'kept'), 'from the main context\n');
    await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY kept /kept\n');
  });

  let count = 0;
  async function build(dockerfile: string, args: readonly string[]) {
    const dest = join(suite.dir.path, `out-${++count}`);
    const out = await runCli(['build', '--progress', 'plain', '--platform', 'linux/amd64,linux/arm64', ...args, '-f', '-', '-o', `type=local,dest=${dest}`, context], { env: suite.env, input: dockerfile });
    return { ...out, dest };
  }
  const read = (path: string) => readFile(path, 'utf8');

  test('a directory context: COPY --from, RUN --mount=from and FROM read it, with its own .dockerignore', async () => {
    const dockerfile = [
      `FROM ${base}`,
      'COPY --from=other kept /kept',
      'COPY --from=other sub /sub',
      'RUN --mount=from=other,target=/o sh -c "ls /o > /listed; cat /o/kept > /mounted"',
      '',
    ].join('\n');
    const out = await build(dockerfile, ['--build-context', `other=${other}`]);
    assert.equal(out.code, 0, out.stderr);
    for (const platform of ['linux_amd64', 'linux_arm64']) {
      assert.equal(await read(join(out.dest, platform, 'kept')), 'from the other context\n');
      assert.equal(await read(join(out.dest, platform, 'sub', 'deep')), 'deep\n');
      assert.equal(await read(join(out.dest, platform, 'mounted')), 'from the other context\n');
      assert.deepEqual((await read(join(out.dest, platform, 'listed'))).trim().split('\n'), ['kept', 'sub'], 'what its .dockerignore drops is not there');
    }
    // What the context's .dockerignore drops cannot be copied by name either.
    const dropped = await build(`FROM ${base}\nCOPY --from=other dropped /dropped\n`, ['--build-context', `other=${other}`]);
    assert.equal(dropped.code, 2);
    assert.match(dropped.stderr, /Dockerfile:2: COPY source "dropped" is excluded by \.dockerignore \[USAGE\]\n$/);
    // A changed file in the context is a changed mount: the RUN runs again.
    await writeFile(join(other, 'kept'), 'changed\n');
    const again = await build(dockerfile, ['--build-context', `other=${other}`]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await read(join(again.dest, 'linux_arm64', 'mounted')), 'changed\n');
    await writeFile(join(other, 'kept'), 'from the other context\n');
    // FROM a directory, as BuildKit: its files (what its .dockerignore keeps) are the stage's first layer, owned by root.
    const from = await build('FROM other\n', ['--build-context', `other=${other}`]);
    assert.equal(from.code, 0, from.stderr);
    for (const platform of ['linux_amd64', 'linux_arm64']) {
      assert.deepEqual((await readdir(join(from.dest, platform))).sort(), ['.dockerignore', 'kept', 'sub']);
      assert.equal(await read(join(from.dest, platform, 'sub', 'deep')), 'deep\n');
    }
    // A context that is no directory is one line.
    const file = await build(`FROM ${base}\n`, ['--build-context', `other=${join(other, 'kept')}`]);
    assert.deepEqual([file.code, file.stderr], [2, `polyarch: build context other: ${join(other, 'kept')} is not a directory [USAGE]\n`]);
  });

  test('an image context stands for a base image, by its short or full name, and for a stage, which is not built', async () => {
    // busybox names nothing this machine can pull; the context gives it, for its full name too.
    const dockerfile = [
      'FROM busybox AS tool',
      'RUN echo "the stage ran" > /which',
      'FROM docker.io/library/busybox:latest',
      'COPY --from=tool /etc/base-file /which',
      'RUN cat /etc/base-file > /own',
      '',
    ].join('\n');
    const out = await build(dockerfile, ['--build-context', `busybox=docker-image://${base}`, '--build-context', `tool=oci-layout://${layout}:bb`]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await read(join(out.dest, 'linux_arm64', 'which')), 'from the arm64 base\n');
    assert.equal(await read(join(out.dest, 'linux_amd64', 'own')), 'from the amd64 base\n');
    assert.doesNotMatch(out.stderr, /the stage ran|\[linux\/\S+ tool/, 'the replaced stage never runs');
  });

  test('values buildx takes that polyarch does not, and malformed ones, are one line each', async () => {
    for (const [value, message] of [
      ['src=https://example.com/src.tar', 'only a directory, docker-image:// or oci-layout:// context is taken (no Git, URL or bake context)'],
      ['src=git@github.com:a/b.git', 'only a directory, docker-image:// or oci-layout:// context is taken (no Git, URL or bake context)'],
      ['src=target:other', 'only a directory, docker-image:// or oci-layout:// context is taken (no Git, URL or bake context)'],
      ['src=docker-image://', 'docker-image:// names nothing'],
      ['=x', 'expected NAME=DIR, NAME=docker-image://REF or NAME=oci-layout://DIR[:TAG]'],
    ] as const) {
      const out = await runCli(['build', '--platform', 'linux/amd64', '--build-context', value, context], { env: suite.env });
      assert.deepEqual([out.code, out.stderr], [2, `polyarch: --build-context ${value}: ${message} [USAGE]\n`]);
    }
    const missing = await runCli(['build', '--platform', 'linux/amd64', '--build-context', 'src=./no-such-dir', context], { env: suite.env, cwd: suite.dir.path });
    assert.deepEqual([missing.code, missing.stderr], [1, `polyarch: build context src: ${join(suite.dir.path, 'no-such-dir')} does not exist [NOT_FOUND]\n`]);
  });
});
