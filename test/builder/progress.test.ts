// Progress events from buildImages: each numbered step as it starts (n/total as buildx counts them,
// stage names as buildx gives them), the lines its RUN prints on each stream, and notices, in the
// order each platform's build runs them; and a listener's failure fails the build.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { buildImages, type BuildOptions } from '../../src/builder/build.js';
import { exportBuild } from '../../src/builder/outputs.js';
import type { BuildProgress } from '../../src/builder/progress.js';
import { formatPlatform, parsePlatform } from '../../src/platform/platform.js';
import { storeBaseIndex } from '../helpers/base-images.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { buildSuite } from '../helpers/build-suite.js';
import { BUSYBOX_ARCHES, copyBusyboxRoot, type BusyboxArch } from '../helpers/busybox.js';

const ARCHES: readonly BusyboxArch[] = ['amd64', 'arm64'];

/** An event as a short line, for comparing whole sequences. */
function show(event: BuildProgress): string {
  const { step } = event;
  const where = `${step.stage ?? '-'} ${step.number}/${step.total}`;
  switch (event.kind) {
    case 'step':
      return `${where} step ${step.instruction}`;
    case 'cached':
      return `${where} cached`;
    case 'output':
      return `${where} ${event.stream} ${event.line}`;
    case 'notice':
      return `${where} notice ${event.message}`;
  }
}

describe('build progress events', { timeout: 600_000 }, () => {
  const suite = buildSuite();
  let base = '';

  before(async () => {
    await ensureEmulation(ARCHES);
    base = `${suite.reg.host}/busybox:progress`;
    const parts = [];
    for (const arch of ARCHES) parts.push({ platform: BUSYBOX_ARCHES[arch].platform, dir: await copyBusyboxRoot(arch, join(suite.dir.path, `base-${arch}`)) });
    await storeBaseIndex(base, parts);
  });

  async function build(name: string, dockerfile: string, options: Partial<BuildOptions> = {}, files: Record<string, string> = {}) {
    const context = join(suite.dir.path, name);
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), dockerfile);
    for (const [path, content] of Object.entries(files)) await writeFile(join(context, path), content);
    const events: BuildProgress[] = [];
    const result = await buildImages({
      context,
      platforms: ARCHES.map((a) => parsePlatform(BUSYBOX_ARCHES[a].platform)),
      buildPlatform: parsePlatform('linux/amd64'),
      cacheDir: join(suite.dir.path, 'cache'),
      onProgress: (event) => void events.push(event),
      ...options,
    });
    return { result, events };
  }

  test('each platform reports its steps numbered per stage, their output lines and notices, in order', async () => {
    const dockerfile = [
      `FROM ${base} AS builder`,
      'ENV GREETING=hello',
      'WORKDIR /src',
      // stdout and stderr, an empty line, and a last line with no line feed
      'RUN echo "$GREETING from $(uname -m)"; echo; echo to-stderr >&2; printf "no newline"',
      'LABEL ignored=yes',
      // A user namespace may make the 0/0 character device only; enough to see it left out.
      'RUN busybox mknod /src/dev c 0 0 && echo made > /src/made',
      'FROM scratch',
      'COPY --from=builder /src /out',
      '',
    ].join('\n');
    // A copied root: overlayfs keeps the 0/0 device for its whiteouts and refuses to make one.
    const { events } = await build('ordered', dockerfile, { stageRoots: 'copy' });
    for (const arch of ARCHES) {
      const platform = BUSYBOX_ARCHES[arch].platform;
      const mine = events.filter((e) => formatPlatform(e.step.platform) === platform).map(show);
      // Which of stdout and stderr the step wrote first is up to the scheduler: compare each stream in order.
      const stderr = mine.filter((l) => l.includes(' stderr '));
      // WORKDIR /src makes the same layer on both platforms: whichever comes second finds it cached.
      const rest = mine.filter((l) => !l.includes(' stderr ') && l !== 'builder 2/4 cached');
      assert.deepEqual(stderr, ['builder 3/4 stderr to-stderr'], platform);
      assert.deepEqual(
        rest,
        [
          `builder 1/4 step FROM ${base}`,
          'builder 2/4 step WORKDIR /src',
          'builder 3/4 step RUN echo "$GREETING from $(uname -m)"; echo; echo to-stderr >&2; printf "no newline"',
          `builder 3/4 stdout hello from ${BUSYBOX_ARCHES[arch].machine}`,
          'builder 3/4 stdout ',
          'builder 3/4 stdout no newline',
          'builder 4/4 step RUN busybox mknod /src/dev c 0 0 && echo made > /src/made',
          'builder 4/4 notice "src/dev" is a char-device: left out of the layer',
          // The stage the COPY reads is built before the COPY starts, and FROM scratch is not numbered.
          'stage-1 1/1 step COPY --from=builder /src /out',
        ],
        platform,
      );
    }
  });

  test('a single stage goes unnamed; flags show in the step; ONBUILD triggers are numbered steps', async () => {
    const parent = `${suite.reg.host}/busybox:onbuild`;
    const first = await build('onbuild-parent', `FROM ${base}\nONBUILD RUN echo trigger\n`);
    await exportBuild({ result: first.result, tags: [parent], push: true });
    const { events } = await build('onbuild-child', `FROM ${parent}\nCOPY --chmod=600 file /file\nRUN echo child\n`, { platforms: [parsePlatform('linux/arm64')] }, { file: 'x' });
    assert.deepEqual(events.map(show), [
      `- 1/4 step FROM ${parent}`,
      '- 2/4 step RUN echo trigger',
      '- 2/4 stdout trigger',
      '- 3/4 step COPY --chmod=600 file /file',
      '- 4/4 step RUN echo child',
      '- 4/4 stdout child',
    ]);
  });

  test('a COPY --from its own or a later stage is refused on its line (it was built before the COPY starts)', async () => {
    for (const [name, dockerfile] of [
      ['self', `FROM ${base} AS a\nRUN echo x > /x\nCOPY --from=a /x /y\n`],
      ['later', `FROM ${base} AS a\nCOPY --from=b /x /y\nFROM ${base} AS b\n`],
    ] as const) {
      await assert.rejects(build(`from-${name}`, dockerfile, { platforms: [parsePlatform('linux/amd64')], target: 'a' }), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'USAGE', error.message);
        assert.match(error.message, /Dockerfile:\d: COPY --from=(a|b) names (this stage itself|a later stage): a stage can copy only from the stages before it/);
        return true;
      });
    }
  });

  test('a COPY or RUN whose layer is in the cache reports cached (and prints nothing); the first build of it does not', async () => {
    const dockerfile = `FROM ${base}\nCOPY file /file\nRUN cat /file\n`;
    const platforms = [parsePlatform('linux/amd64')];
    const made = `made at ${Date.now()}`;
    const first = await build('cached', dockerfile, { platforms }, { file: `${made}\n` });
    const again = await build('cached', dockerfile, { platforms });
    assert.deepEqual(first.events.map(show), [`- 1/3 step FROM ${base}`, '- 2/3 step COPY file /file', '- 3/3 step RUN cat /file', `- 3/3 stdout ${made}`]);
    assert.deepEqual(again.events.map(show), [`- 1/3 step FROM ${base}`, '- 2/3 step COPY file /file', '- 2/3 cached', '- 3/3 step RUN cat /file', '- 3/3 cached']);
  });

  test('a listener that throws fails the build with its error', async () => {
    const failure = new Error('listener gave up');
    await assert.rejects(
      build('throwing', `FROM ${base}\nRUN echo one; echo two\nRUN echo never > /x\n`, {
        platforms: [parsePlatform('linux/amd64')],
        onProgress: (event) => {
          if (event.kind === 'output') throw failure;
        },
      }),
      failure,
    );
  });
});
