// `npm run bench` (RUN steps): a C program compiled in a Debian stage (seven files at -O2, a few
// seconds of gcc natively), linked, run, and copied onto scratch, for linux/amd64 and linux/arm64
// (arm64 under qemu through the kernel's binfmt_misc handlers, the same ones for both tools), built
// by `polyarch build` and by `buildah build --isolation chroot --layers` in the same run, cold
// (empty caches and storage) and warm (the same build again, nothing changed; the median of three
// runs, the tools in turn). The base is an amd64+arm64 index of Debian roots with gcc, served by
// polyarch's embedded registry to both.
// Then the floor: the arm64 compile alone, run in a plain chroot of the same root (as root only),
// which no build of this Dockerfile can beat; it bounds the cold ratio this machine allows.
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { storeBaseIndex } from '../test/helpers/base-images.js';
import { ensureEmulation } from '../test/helpers/binfmt.js';
import { debianRootfsTar } from '../test/helpers/debian-rootfs.js';
import { startEmbedded } from '../test/helpers/embedded.js';
import { CLI_PATH as cli } from '../test/helpers/run-cli.js';
import { median, printTable, ratio, seconds, targetLine } from './report.js';

const exec = promisify(execFile);
const work = resolve('bench/work-run');
const PLATFORMS = 'linux/amd64,linux/arm64';
const FILES = 6;
const FUNCTIONS = 80;
/** Warm builds of each tool, in turn; the table shows the median. */
const WARM_RUNS = Math.max(1, Number(process.env.BENCH_WARM_RUNS ?? 3));
/** buildah's storage driver here: overlay (root on ext4), its fastest. */
const DRIVER = 'overlay';

/** One C file of `FUNCTIONS` small loop-heavy functions: enough for -O2 to work at, deterministic. */
function cSource(file: number): string {
  let text = '#include <stdint.h>\n';
  for (let i = 0; i < FUNCTIONS; i++) {
    text += `uint64_t f${file}_${i}(uint64_t x) {\n  uint64_t a = x * ${i + 3}u, b = x ^ ${file * 7919 + i}u;\n`;
    text += `  for (int k = 0; k < ${8 + (i % 5)}; k++) {\n    a = (a << ${1 + (i % 7)}) ^ (b >> ${2 + (i % 5)}) ^ ${(i * 2654435761) % 1000003}u;\n`;
    text += `    b += a * ${(i % 13) + 1}u + (a % ${(i % 11) + 3}u);\n    if ((a & 3) == ${i % 4}) b ^= a >> 3; else a += b << 1;\n  }\n  return a ^ b;\n}\n`;
  }
  text += `uint64_t part${file}(uint64_t x) {\n  uint64_t r = 0;\n`;
  for (let i = 0; i < FUNCTIONS; i++) text += `  r ^= f${file}_${i}(x + ${i}u);\n`;
  return `${text}  return r;\n}\n`;
}

function cMain(): string {
  const parts = Array.from({ length: FILES }, (_, f) => f);
  return [
    '#include <stdio.h>',
    '#include <stdint.h>',
    ...parts.map((f) => `uint64_t part${f}(uint64_t);`),
    'int main(void) {',
    '  uint64_t r = 0;',
    ...parts.map((f) => `  r ^= part${f}(${f}u);`),
    '  printf("%llu\\n", (unsigned long long)r);',
    '  return 0;',
    '}',
    '',
  ].join('\n');
}

const DOCKERFILE = `ARG BASE
FROM \${BASE} AS build
WORKDIR /src
COPY src/ ./
RUN gcc -O2 -c *.c
RUN gcc -static -o /usr/local/bin/hello *.o
RUN hello > /hello.out && cat /hello.out
FROM scratch
COPY --from=build /usr/local/bin/hello /hello
COPY --from=build /hello.out /hello.out
`;

/** Mount points under `dir` (buildah's overlay storage leaves some), deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const lines = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n');
  const points = lines.map((l) => l.split(' ')[4] ?? '').filter((p) => p === dir || p.startsWith(`${dir}/`));
  return points.sort((a, b) => b.length - a.length);
}

async function cleanWork(): Promise<void> {
  for (const point of await mountsUnder(work)) await exec('umount', ['-l', point]).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
}

/** Seconds the Dockerfile's first RUN (gcc -O2 -c *.c) takes in a plain chroot of the arm64 root; undefined when not root. */
async function compileFloor(rootTar: string, sources: string): Promise<number | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const root = join(work, 'floor-root');
  await mkdir(root, { recursive: true });
  await exec('tar', ['-xf', rootTar, '-C', root]);
  await exec('cp', ['-r', sources, join(root, 'src')]);
  return seconds(() => exec('chroot', [root, 'sh', '-c', 'cd /src && gcc -O2 -c *.c']));
}

const missing = await exec('sh', ['-c', 'command -v buildah']).then(() => false, () => true);
if (missing) {
  console.error('the RUN bench compares with buildah: install the Debian package buildah');
  process.exit(1);
}
await ensureEmulation(['arm64']);
console.error('Debian roots with gcc (made with mmdebstrap the first time, minutes; cached after)…');
const tars = { amd64: await debianRootfsTar('amd64'), arm64: await debianRootfsTar('arm64') };
await cleanWork();
await mkdir(work, { recursive: true });
const registry = await startEmbedded();
try {
  const base = `${registry.host}/bench/debian:bookworm`;
  await storeBaseIndex(base, [
    { platform: 'linux/amd64', tar: tars.amd64 },
    { platform: 'linux/arm64', tar: tars.arm64 },
  ]);
  const context = join(work, 'context');
  await mkdir(join(context, 'src'), { recursive: true });
  for (let f = 0; f < FILES; f++) await writeFile(join(context, 'src', `part${f}.c`), cSource(f));
  await writeFile(join(context, 'src', 'main.c'), cMain());
  await writeFile(join(context, 'Dockerfile'), DOCKERFILE);

  const polyarchBuild = () =>
    exec(process.execPath, [cli, 'build', '-q', '--platform', PLATFORMS, '--build-arg', `BASE=${base}`, context], { env: { ...process.env, XDG_CACHE_HOME: join(work, 'polyarch-cache') }, maxBuffer: 64 * 1024 * 1024 });
  const buildahArgs = ['--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run'), '--storage-driver', DRIVER];
  const buildahBuild = () =>
    exec('buildah', [...buildahArgs, 'build', '--isolation', 'chroot', '--layers', '--tls-verify=false', '--platform', PLATFORMS, '--build-arg', `BASE=${base}`, '--manifest', 'bench-run', context], {
      maxBuffer: 64 * 1024 * 1024,
    });

  const load = loadavg()[0]!;
  // Each figure as it comes (stderr): the four builds take minutes on a small machine.
  const timed = async (what: string, run: () => Promise<unknown>): Promise<number> => {
    const s = await seconds(run);
    console.error(`${what}: ${s.toFixed(1)} s`);
    return s;
  };
  // Each cold build starts with nothing left to write back: neither tool flushes what ran before it.
  const settle = () => exec('sync');
  await settle();
  const polyCold = await timed('polyarch cold', polyarchBuild);
  await settle();
  const buildahCold = await timed('buildah cold', buildahBuild);
  await settle();
  // Warm builds take a fraction of a second, where one run's noise is a large share: the median of
  // WARM_RUNS, the two tools in turn, both after the same settle.
  const warm = { polyarch: [] as number[], buildah: [] as number[] };
  for (let run = 1; run <= WARM_RUNS; run++) {
    warm.polyarch.push(await timed(`polyarch warm ${run}`, polyarchBuild));
    warm.buildah.push(await timed(`buildah warm ${run}`, buildahBuild));
  }
  const polyWarm = median(warm.polyarch);
  const buildahWarm = median(warm.buildah);

  console.log(`\nRUN-heavy build for ${PLATFORMS}: gcc -O2 on ${FILES + 1} files, link, run, in a Debian stage (arm64 under qemu); buildah with --layers and the ${DRIVER} driver`);
  console.log(`${availableParallelism()} cores, load average ${load.toFixed(1)} at the start (target: ≥ 1.5× faster than buildah cold, ≥ 10× warm)\n`);
  printTable(
    ['tool', 'cold s', `warm s (median of ${WARM_RUNS})`],
    [
      ['polyarch build', polyCold.toFixed(2), polyWarm.toFixed(2)],
      ['buildah build --isolation chroot', buildahCold.toFixed(2), buildahWarm.toFixed(2)],
      ['buildah ÷ polyarch', ratio(buildahCold, polyCold), ratio(buildahWarm, polyWarm)],
    ],
  );
  const floor = await compileFloor(tars.arm64, join(context, 'src'));
  console.log(
    floor === undefined
      ? '\nfloor: skipped (the chroot needs root)'
      : `\nfloor: the arm64 compile alone in a plain chroot took ${floor.toFixed(2)} s, so no cold build here can beat buildah by more than ${ratio(buildahCold, floor)}`,
  );
  console.log('');
  targetLine('RUN build cold vs buildah', buildahCold / polyCold, 1.5);
  targetLine('RUN build warm vs buildah', buildahWarm / polyWarm, 10);
} finally {
  await registry.stop();
  await cleanWork();
}
