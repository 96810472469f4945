// `npm run bench` (part 4): the same 3-platform image (about 50 MB of files per platform over a
// multi-arch base) built by `polyarch build` and by `buildah build --isolation chroot`, same run,
// cold and warm cache; then layer compression alone against single-core `gzip -6`, on the same
// random bytes (like already-compressed assets) and on compressible code.
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { availableParallelism } from 'node:os';
import { createEndpointOpener, parseLocation } from '../src/index.js';
import { compressor, parseCompression } from '../src/layer/compression.js';
import { startEmbedded } from '../test/helpers/embedded.js';
import { randomIndex, seededBytes } from '../test/helpers/images.js';
import { CLI_PATH as cli } from '../test/helpers/run-cli.js';
import { median, printTable, ratio, seconds } from './report.js';

const exec = promisify(execFile);
const work = resolve('bench/work-build');
const ARCHES = ['amd64', 'arm64', 'riscv64'];
const FILES = 5;
const FILE_BYTES = 10 * 1024 * 1024;
/** The many-files context: directories, and files in each. */
const MANY_DIRS = 200;
const MANY_FILES = 100;

const missing = await exec('sh', ['-c', 'command -v buildah']).then(() => false, () => true);
if (missing) {
  console.error('the build bench compares with buildah: install the Debian package buildah');
  process.exit(1);
}
await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
const registry = await startEmbedded();
try {
  const opener = createEndpointOpener();
  const { endpoint } = await opener.open(parseLocation(`${registry.host}/bench/base:1`), 'write');
  await randomIndex(endpoint, ARCHES.map((architecture) => ({ os: 'linux', architecture })), { tag: '1', layers: 2, bytes: 1024 * 1024, seed: 'build-bench-base' });
  await opener.close();
  const context = join(work, 'context');
  for (const arch of ARCHES) {
    await mkdir(join(context, 'build', arch), { recursive: true });
    for (let i = 0; i < FILES; i++) await writeFile(join(context, 'build', arch, `part-${i}.bin`), seededBytes(`${arch}-${i}`, FILE_BYTES));
  }
  await writeFile(join(context, 'Dockerfile'), 'ARG BASE\nFROM ${BASE}\nARG TARGETARCH\nCOPY build/${TARGETARCH}/ /opt/app/\n');
  const platforms = ARCHES.map((a) => `linux/${a}`).join(',');
  const base = `${registry.host}/bench/base:1`;
  const polyarchBuild = () =>
    exec(process.execPath, [cli, 'build', '-q', '--platform', platforms, '--build-arg', `BASE=${base}`, context], { env: { ...process.env, XDG_CACHE_HOME: join(work, 'polyarch-cache') } });
  const buildahBuild = () =>
    exec('buildah', ['--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run'), '--storage-driver', 'vfs', 'build', '--isolation', 'chroot', '--tls-verify=false', '--platform', platforms, '--build-arg', `BASE=${base}`, '--manifest', 'bench-image', context], { maxBuffer: 64 * 1024 * 1024 });

  const polyCold = await seconds(polyarchBuild);
  const polyWarm = await seconds(polyarchBuild);
  const buildahCold = await seconds(buildahBuild);
  const buildahWarm = await seconds(buildahBuild);
  const mb = (ARCHES.length * FILES * FILE_BYTES) / 1e6;

  console.log(`\nbuild of a ${ARCHES.length}-platform image, ${(mb / ARCHES.length).toFixed(0)} MB of files per platform over a multi-arch base (target: ≥ 2× faster than buildah cold, near-zero work warm)\n`);
  const rows = [
    ['polyarch build', polyCold.toFixed(2), polyWarm.toFixed(2), (mb / polyCold).toFixed(0)],
    ['buildah build --isolation chroot', buildahCold.toFixed(2), buildahWarm.toFixed(2), (mb / buildahCold).toFixed(0)],
  ];
  printTable(['tool', 'cold s', 'warm s', 'cold MB/s'], rows);

  // A project-sized context: many small files copied whole (`COPY . /app`). A warm build must look at
  // every file to know that nothing changed; the median of three warm builds of each tool.
  const many = join(work, 'many-files');
  for (let d = 0; d < MANY_DIRS; d++) {
    await mkdir(join(many, `pkg-${d}`), { recursive: true });
    for (let f = 0; f < MANY_FILES; f++) await writeFile(join(many, `pkg-${d}`, `file-${f}.js`), seededBytes(`many-${d}-${f}`, 1024).toString('hex'));
  }
  await writeFile(join(many, 'Dockerfile'), 'FROM scratch\nCOPY . /app\n');
  const manyPlatforms = 'linux/amd64,linux/arm64';
  const polyarchMany = () => exec(process.execPath, [cli, 'build', '-q', '--platform', manyPlatforms, many], { env: { ...process.env, XDG_CACHE_HOME: join(work, 'polyarch-cache') } });
  const buildahMany = () =>
    exec('buildah', ['--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run'), '--storage-driver', 'vfs', 'build', '--isolation', 'chroot', '--layers', '--platform', manyPlatforms, '--manifest', 'bench-many', many], { maxBuffer: 64 * 1024 * 1024 });
  const polyManyCold = await seconds(polyarchMany);
  const buildahManyCold = await seconds(buildahMany);
  const polyManyWarm: number[] = [];
  const buildahManyWarm: number[] = [];
  for (let run = 0; run < 3; run++) {
    polyManyWarm.push(await seconds(polyarchMany));
    buildahManyWarm.push(await seconds(buildahMany));
  }
  console.log(`\nbuild of \`COPY . /app\` from a context of ${MANY_DIRS * MANY_FILES} files of 2 KB, for ${manyPlatforms}\n`);
  printTable(
    ['tool', 'cold s', 'warm s (median of 3)'],
    [
      ['polyarch build', polyManyCold.toFixed(2), median(polyManyWarm).toFixed(2)],
      ['buildah build --isolation chroot --layers', buildahManyCold.toFixed(2), median(buildahManyWarm).toFixed(2)],
      ['buildah ÷ polyarch', ratio(buildahManyCold, polyManyCold), ratio(median(buildahManyWarm), median(polyManyWarm))],
    ],
  );

  // Layer compression alone, one corpus a file: the build's random bytes, and ~50 MB of code.
  const randomCorpus = join(work, 'random.bin');
  await exec('sh', ['-c', `cat ${join(context, 'build')}/*/*.bin > '${randomCorpus}'`]);
  const codeCorpus = join(work, 'code.js');
  const lib = resolve('node_modules/typescript/lib');
  const scripts = (await readdir(lib)).filter((n) => n.endsWith('.js')).map((n) => join(lib, n));
  const out = createWriteStream(codeCorpus);
  for (let written = 0; written < 50e6; ) {
    for (const script of scripts) {
      const bytes = await readFile(script);
      out.write(bytes);
      written += bytes.length;
    }
  }
  await new Promise((done) => out.end(done));
  const compressionRows: string[][] = [];
  for (const [name, corpus] of [['random', randomCorpus], ['code', codeCorpus]] as const) {
    const size = (await stat(corpus)).size;
    let gzipBytes = 0;
    const gzipTime = await seconds(async () => (gzipBytes = Number((await exec('sh', ['-c', `gzip -6 < '${corpus}' | wc -c`])).stdout.trim())));
    compressionRows.push([name, 'gzip -6, one core', (size / 1e6 / gzipTime).toFixed(0), (gzipBytes / size).toFixed(3)]);
    for (const [label, kind, level] of [['polyarch gzip (level 6)', 'gzip', '6'], ['polyarch zstd (level 3)', 'zstd', '3']] as const) {
      let bytes = 0;
      const count = new Writable({ write: (chunk: Buffer, _e, done) => ((bytes += chunk.length), done()) });
      const time = await seconds(() => pipeline(createReadStream(corpus), compressor(parseCompression(kind, level)), count));
      compressionRows.push([name, label, (size / 1e6 / time).toFixed(0), (bytes / size).toFixed(3)]);
    }
  }
  console.log(`\nlayer compression on this machine's ${availableParallelism()} cores (gzip -6 uses one)\n`);
  printTable(['corpus', 'compressor', 'MB/s', 'out/in'], compressionRows);
} finally {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
}
