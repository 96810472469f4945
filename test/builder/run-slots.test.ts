// RUN scheduling: steps of every platform share the build's run slots. Each step prints the host's
// uptime (the kernel's clock: the same for emulated and native steps) before and after it sleeps;
// with one slot no two steps' intervals overlap, with two slots at most two do, and two do.
// Emulated platforms start first: a native one begins once each emulated one reached its first RUN.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { buildImages } from '../../src/builder/build.js';
import { formatPlatform, parsePlatform } from '../../src/platform/platform.js';
import { storeBaseIndex } from '../helpers/base-images.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { buildSuite } from '../helpers/build-suite.js';
import { BUSYBOX_ARCHES, copyBusyboxRoot, type BusyboxArch } from '../helpers/busybox.js';

const ARCHES: readonly BusyboxArch[] = ['amd64', 'arm64', 'armhf'];

interface Interval {
  readonly platform: string;
  readonly start: number;
  readonly end: number;
}

/** The most intervals holding at once (each start compared against every interval). */
function mostAtOnce(intervals: readonly Interval[]): number {
  return Math.max(...intervals.map((at) => intervals.filter((i) => i.start <= at.start && at.start < i.end).length));
}

describe('RUN steps hold a run slot while they run', { timeout: 600_000 }, () => {
  const suite = buildSuite();
  let base = '';

  before(async () => {
    await ensureEmulation(ARCHES);
    base = `${suite.reg.host}/busybox:slots`;
    const parts = [];
    for (const arch of ARCHES) parts.push({ platform: BUSYBOX_ARCHES[arch].platform, dir: await copyBusyboxRoot(arch, join(suite.dir.path, `base-${arch}`)) });
    await storeBaseIndex(base, parts);
  });

  /** Builds the three platforms with `slots` run slots; each step's interval on the kernel's clock. */
  async function intervals(slots: number): Promise<Interval[]> {
    const context = join(suite.dir.path, `slots-${slots}`);
    await mkdir(context, { recursive: true });
    // The slot count in the command keeps a RUN cache from reusing another test's step.
    await writeFile(join(context, 'Dockerfile'), `FROM ${base}\nRUN cut -d" " -f1 /proc/uptime; sleep 2; cut -d" " -f1 /proc/uptime; echo ${slots} slots\n`);
    const uptimes = new Map<string, number[]>();
    await buildImages({
      context,
      platforms: ARCHES.map((a) => parsePlatform(BUSYBOX_ARCHES[a].platform)),
      buildPlatform: parsePlatform('linux/amd64'),
      cacheDir: join(suite.dir.path, 'cache'),
      runSlots: slots,
      onProgress: (event) => {
        if (event.kind !== 'output' || !/^\d+\.\d+$/.test(event.line)) return;
        const platform = formatPlatform(event.step.platform);
        uptimes.set(platform, [...(uptimes.get(platform) ?? []), Number(event.line)]);
      },
    });
    return [...uptimes].map(([platform, [start, end]]) => {
      assert.ok(start !== undefined && end !== undefined && end - start >= 2, `${platform}: ${start}..${end}`);
      return { platform, start, end };
    });
  }

  test('one slot: the three platforms\' steps run one after another', async () => {
    const got = await intervals(1);
    assert.equal(got.length, 3, JSON.stringify(got));
    assert.equal(mostAtOnce(got), 1, JSON.stringify(got));
  });

  test('two slots: two steps run at once, never three', async () => {
    const got = await intervals(2);
    assert.equal(got.length, 3, JSON.stringify(got));
    assert.equal(mostAtOnce(got), 2, JSON.stringify(got));
  });

  /**
   * Each step's start as `platform instruction` and each platform's first pulled blob as
   * `platform pull`, in the order the build reported them; `cache` fresh, a cold build.
   */
  async function eventOrder(context: string, platforms: readonly string[], cache: string): Promise<string[]> {
    const order: string[] = [];
    await buildImages({
      context,
      platforms: platforms.map((p) => parsePlatform(p)),
      buildPlatform: parsePlatform('linux/amd64'),
      cacheDir: join(suite.dir.path, cache),
      onProgress: (event) => void (event.kind === 'step' && order.push(`${formatPlatform(event.step.platform)} ${event.step.instruction.split(' ')[0]}`)),
      onTransfer: (event) => {
        const said = `${event.platform ? formatPlatform(event.platform) : '?'} pull`;
        if (event.phase === 'pull' && !order.includes(said)) order.push(said);
      },
    });
    return order;
  }

  test('the native platform starts once each emulated one has reached its first RUN', async () => {
    const context = join(suite.dir.path, 'order');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), `FROM ${base}\nRUN uname -m > /arch\n`);
    // Named first, the native platform still pulls nothing before both emulated RUNs started.
    const order = await eventOrder(context, ['linux/amd64', 'linux/arm64', 'linux/arm/v7'], 'cache-order');
    const native = order.indexOf('linux/amd64 pull');
    assert.ok(order.indexOf('linux/arm64 RUN') >= 0 && order.indexOf('linux/arm/v7 RUN') >= 0, order.join(', '));
    assert.ok(native > order.indexOf('linux/arm64 RUN') && native > order.indexOf('linux/arm/v7 RUN'), order.join(', '));
  });

  test('an emulated platform that fails before its first RUN fails the build without holding the others back', async () => {
    const amd64Only = `${suite.reg.host}/busybox:no-arm64`;
    await storeBaseIndex(amd64Only, [{ platform: BUSYBOX_ARCHES.amd64.platform, dir: join(suite.dir.path, 'base-amd64') }]);
    const context = join(suite.dir.path, 'order-fails');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), `FROM ${amd64Only}\nRUN true\n`);
    await assert.rejects(eventOrder(context, ['linux/amd64', 'linux/arm64'], 'cache-order-fails'), (error: Error) => /linux\/arm64/.test(error.message));
  });

  /** Uptimes each stage's steps printed, by stage name, from a one-platform build of `dockerfile`. */
  async function stageUptimes(name: string, dockerfile: string): Promise<{ uptimes: Map<string, number[]>; result: Promise<unknown> }> {
    const context = join(suite.dir.path, name);
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), dockerfile);
    const uptimes = new Map<string, number[]>();
    const result = buildImages({
      context,
      platforms: [parsePlatform('linux/amd64')],
      buildPlatform: parsePlatform('linux/amd64'),
      cacheDir: join(suite.dir.path, `cache-${name}`),
      runSlots: 2,
      onProgress: (event) => {
        if (event.kind !== 'output' || !/^\d+\.\d+$/.test(event.line)) return;
        const stage = event.step.stage ?? '';
        uptimes.set(stage, [...(uptimes.get(stage) ?? []), Number(event.line)]);
      },
    });
    await result.catch(() => undefined);
    return { uptimes, result };
  }

  const timedRun = (seconds: number, tag: string) => `RUN cut -d" " -f1 /proc/uptime; sleep ${seconds}; cut -d" " -f1 /proc/uptime; echo ${tag}`;

  test('independent stages the target needs build side by side, as BuildKit builds them', async () => {
    const dockerfile = [`FROM ${base} AS a`, timedRun(3, 'a'), `FROM ${base} AS b`, timedRun(3, 'b'), 'FROM scratch', 'COPY --from=b /bin/busybox /b', 'COPY --from=a /bin/busybox /a', ''].join('\n');
    const { uptimes, result } = await stageUptimes('side-by-side', dockerfile);
    await result;
    const got = [...uptimes].map(([stage, [start, end]]) => ({ platform: stage, start: start!, end: end! }));
    assert.equal(got.length, 2, JSON.stringify(got));
    assert.equal(mostAtOnce(got), 2, `the two stages' steps overlap: ${JSON.stringify(got)}`);
  });

  test('a stage that fails stops the others at once: the build fails with its error', async () => {
    // Built one after the other, b (named first) would run to its end before a failed.
    const dockerfile = [`FROM ${base} AS a`, 'RUN sleep 1; exit 3', `FROM ${base} AS b`, timedRun(60, 'b'), 'FROM scratch', 'COPY --from=b /bin/busybox /b', 'COPY --from=a /bin/busybox /a', ''].join('\n');
    const { uptimes, result } = await stageUptimes('one-fails', dockerfile);
    await assert.rejects(result, (error: Error & { code?: string }) => error.code === 'STEP_FAILED' && /Dockerfile:2: .*exited with code 3/.test(error.message));
    assert.equal(uptimes.get('b')?.length, 1, "b's step started and was stopped before its end");
  });

  test('a run slot count below one is refused before anything runs', async () => {
    await assert.rejects(
      buildImages({ context: join(suite.dir.path, 'slots-1'), platforms: [parsePlatform('linux/amd64')], buildPlatform: parsePlatform('linux/amd64'), cacheDir: join(suite.dir.path, 'cache'), runSlots: 0 }),
      (error: Error & { code?: string }) => error.code === 'USAGE' && /runSlots must be a whole number of at least 1, not 0/.test(error.message),
    );
  });
});
