// A cross-compiling build: a stage `FROM --platform=$BUILDPLATFORM` runs its RUN steps on the build
// machine for every target, so a target this machine cannot run (riscv64 has no qemu handler
// here) still builds, while a RUN on that target stops the build before it starts.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { machine } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { detectEmulation } from '../../src/builder/executor/binfmt.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { storeBaseIndex } from '../helpers/base-images.js';
import { buildSuite } from '../helpers/build-suite.js';
import { BUSYBOX_ARCHES, copyBusyboxRoot, type BusyboxArch } from '../helpers/busybox.js';
import { runCli } from '../helpers/run-cli.js';

/** A platform no test registers a handler for, so this machine cannot run its programs. */
const UNRUNNABLE = 'linux/riscv64';
const HOST_ARCH: BusyboxArch = process.arch === 'arm64' ? 'arm64' : 'amd64';

describe('stages on $BUILDPLATFORM', { timeout: 300_000 }, () => {
  const suite = buildSuite();
  let base = '';

  before(async () => {
    const report = await detectEmulation({ platforms: [parsePlatform(UNRUNNABLE)] });
    assert.equal(report.platforms[0]?.status, 'missing', `this test needs a machine that cannot run ${UNRUNNABLE} programs`);
    base = `${suite.reg.host}/busybox:host`;
    const root = await copyBusyboxRoot(HOST_ARCH, join(suite.dir.path, 'base'));
    await storeBaseIndex(base, [{ platform: BUSYBOX_ARCHES[HOST_ARCH].platform, dir: root }]);
  });

  async function context(name: string, dockerfile: string): Promise<string> {
    const dir = join(suite.dir.path, name);
    await mkdir(dir);
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    return dir;
  }

  test('a builder on the build machine needs no emulation of the targets', async () => {
    const ctx = await context('cross', `FROM --platform=$BUILDPLATFORM ${base} AS build\nARG TARGETARCH\nRUN echo "$TARGETARCH on $(uname -m)" > /out\nFROM scratch\nCOPY --from=build /out /out\n`);
    const dest = join(suite.dir.path, 'cross-out');
    const out = await runCli(['build', '--platform', `${BUSYBOX_ARCHES[HOST_ARCH].platform},${UNRUNNABLE}`, '-o', `type=local,dest=${dest}`, ctx], { env: suite.env });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await readFile(join(dest, 'linux_riscv64', 'out'), 'utf8'), `riscv64 on ${machine()}\n`);
  });

  test('a RUN on a target this machine cannot run stops the build first, naming it', async () => {
    const ctx = await context('native', `FROM ${base}\nRUN true\n`);
    const out = await runCli(['build', '--platform', UNRUNNABLE, '-o', `type=local,dest=${join(suite.dir.path, 'native-out')}`, ctx], { env: suite.env });
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stderr, /cannot run programs for linux\/riscv64 .*\[EMULATION_MISSING\]/);
  });
});
