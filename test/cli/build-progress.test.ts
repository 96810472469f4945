// `polyarch build --progress=plain` (the default): every step and every line a RUN step prints goes
// to stderr prefixed as buildx prints it, `[linux/arm64 builder 3/3] …`; the number is padded to
// the width of the total; quiet (or the global --quiet) prints none of it; a bad mode is one line.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { storeBaseIndex } from '../helpers/base-images.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { buildSuite } from '../helpers/build-suite.js';
import { BUSYBOX_ARCHES, copyBusyboxRoot, type BusyboxArch } from '../helpers/busybox.js';
import { runCli } from '../helpers/run-cli.js';

const ARCHES: readonly BusyboxArch[] = ['amd64', 'arm64'];

describe('build --progress', { timeout: 600_000 }, () => {
  const suite = buildSuite();
  let base = '';

  before(async () => {
    await ensureEmulation(ARCHES);
    base = `${suite.reg.host}/busybox:cli-progress`;
    const parts = [];
    for (const arch of ARCHES) parts.push({ platform: BUSYBOX_ARCHES[arch].platform, dir: await copyBusyboxRoot(arch, join(suite.dir.path, `base-${arch}`)) });
    await storeBaseIndex(base, parts);
  });

  async function build(name: string, dockerfile: string, flags: readonly string[], platforms = 'linux/amd64,linux/arm64') {
    const context = join(suite.dir.path, name);
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), dockerfile);
    return runCli([...flags, 'build', '--platform', platforms, '-o', `type=local,dest=${join(suite.dir.path, `${name}-out`)}`, context], { env: suite.env });
  }

  test('plain: each step and each output line carries its platform, stage and n/total', async () => {
    const dockerfile = `FROM ${base} AS builder\nWORKDIR /w\nRUN echo one; echo "two on $(uname -m)" >&2; touch f\nFROM scratch\nCOPY --from=builder /w/f /f\n`;
    const out = await build('plain', dockerfile, []);
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stderr.trim().split('\n');
    for (const arch of ARCHES) {
      const p = BUSYBOX_ARCHES[arch].platform;
      const mine = lines.filter((l) => l.startsWith(`[${p} `));
      const run = 'RUN echo one; echo "two on $(uname -m)" >&2; touch f';
      // WORKDIR /w makes the same layer on both platforms: the second finds it CACHED.
      assert.deepEqual(
        mine.filter((l) => !l.includes('] two on ') && l !== `[${p} builder 2/3] CACHED`),
        [`[${p} builder 1/3] FROM ${base}`, `[${p} builder 2/3] WORKDIR /w`, `[${p} builder 3/3] ${run}`, `[${p} builder 3/3] one`, `[${p} stage-1 1/1] COPY --from=builder /w/f /f`],
        out.stderr,
      );
      assert.ok(mine.includes(`[${p} builder 3/3] two on ${BUSYBOX_ARCHES[arch].machine}`), out.stderr);
    }
    // Nothing but progress lines: each line whole, none cut into by another platform's.
    assert.ok(lines.every((l) => /^\[linux\/(amd64|arm64) (builder 1\/3|builder 2\/3|builder 3\/3|stage-1 1\/1)\] /.test(l)), out.stderr);
  });

  test('the step number is padded to the width of the total, as buildx pads it', async () => {
    const workdirs = Array.from({ length: 9 }, (_, n) => `WORKDIR /d${n + 1}\n`).join('');
    const out = await build('padded', `FROM ${base}\n${workdirs}`, [], 'linux/amd64');
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stderr.trim().split('\n');
    assert.equal(lines[0], `[linux/amd64  1/10] FROM ${base}`);
    assert.equal(lines[9], '[linux/amd64 10/10] WORKDIR /d9');
  });

  test('quiet, and the global --quiet, print no progress; a bad mode is one line, exit 2', async () => {
    const dockerfile = `FROM ${base}\nRUN echo quiet please\n`;
    for (const flags of [['--progress=quiet'], ['-q']]) {
      const args = flags[0] === '-q' ? { before: flags, after: [] } : { before: [], after: flags };
      const context = join(suite.dir.path, 'quiet');
      await mkdir(context, { recursive: true });
      await writeFile(join(context, 'Dockerfile'), dockerfile);
      const out = await runCli([...args.before, 'build', ...args.after, '--platform', 'linux/arm64', '-o', `type=local,dest=${join(suite.dir.path, `quiet-out-${flags[0]}`)}`, context], { env: suite.env });
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stderr, '', flags.join(' '));
    }
    const bad = await runCli(['build', '--progress=fancy', join(suite.dir.path, 'quiet')], { env: suite.env });
    assert.equal(bad.code, 2, bad.stderr);
    assert.equal(bad.stderr, 'polyarch: --progress "fancy": expected auto, tty, plain or quiet [USAGE]\n');
  });
});
