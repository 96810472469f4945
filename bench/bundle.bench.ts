// `bundle` against skopeo moving the same bytes, same run. A 3-platform index of about 600 MB
// (5 layers per platform, BENCH_BUNDLE_LAYER_MB each, default 40) is generated into one local
// registry. Rows: bundle of one platform into a docker archive beside `skopeo copy` of that
// platform's image into a docker-archive; bundle of all three platforms (three archives) beside
// `skopeo copy --all` into a dir: layout; and the one-platform bundle again on a warm cache (what a
// rerun after an interruption costs). Cold runs get a fresh cache and output each time. Tools run
// in turn BENCH_ROUNDS times (default 3); medians. Wall time and peak RSS come from GNU time.
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createEndpointOpener, formatPlatform, parseLocation } from '../src/index.js';
import { startDistribution, type DistributionHandle } from '../test/helpers/distribution.js';
import { randomIndex, THREE_PLATFORMS } from '../test/helpers/images.js';
import { CLI_PATH as cli } from '../test/helpers/run-cli.js';
import { type Run, median, printTable, ratio, targetLine, timed } from './report.js';

const exec = promisify(execFile);
const LAYER_BYTES = Number(process.env.BENCH_BUNDLE_LAYER_MB ?? 40) * 1024 * 1024;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const LAYERS = 5;

const work = resolve('bench/work-bundle');
await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
const registries: DistributionHandle[] = [];
try {
  const source = await startDistribution();
  registries.push(source);
  const opener = createEndpointOpener();
  process.stderr.write(`generating ${THREE_PLATFORMS.length}×${LAYERS} layers of ${LAYER_BYTES >> 20} MiB…\n`);
  const reference = `${source.host}/bench/app:1`;
  const { endpoint } = await opener.open(parseLocation(reference), 'write');
  const made = await randomIndex(endpoint, THREE_PLATFORMS, { tag: '1', layers: LAYERS, bytes: LAYER_BYTES, seed: 'bundle-bench' });
  await opener.close();
  const sizeOf = (i: (typeof made.images)[number]): number => i.layers.reduce((s, l) => s + l.descriptor.size, 0) + i.config.size;
  const one = made.images[1]!; // linux/arm64
  const onePlatform = formatPlatform(one.platform);
  const oneBytes = sizeOf(one);
  const allBytes = made.images.reduce((sum, i) => sum + sizeOf(i), 0);
  const allPlatforms = made.images.map((i) => formatPlatform(i.platform)).join(',');

  let n = 0;
  const fresh = (): string => join(work, `run-${n++}`);
  const bundleArgs = (dir: string, platforms: string, cache: string): string[] => [cli, 'bundle', '--platform', platforms, '-o', join(dir, 'release-{arch}{variant}.tar'), '--cache-dir', cache, reference];
  const rows = [
    { name: `one platform (${onePlatform}), cold cache`, bytes: oneBytes, ours: [] as Run[], peer: [] as Run[], peerName: 'skopeo copy → docker-archive' },
    { name: `all ${made.images.length} platforms, cold cache`, bytes: allBytes, ours: [] as Run[], peer: [] as Run[], peerName: 'skopeo copy --all → dir:' },
    { name: `one platform (${onePlatform}), warm cache`, bytes: oneBytes, ours: [] as Run[], peer: [] as Run[], peerName: 'skopeo copy → docker-archive' },
  ];
  const warmCache = join(work, 'warm-cache');
  await exec(process.execPath, bundleArgs(fresh(), onePlatform, warmCache));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, row] of rows.entries()) {
      const dir = fresh();
      await mkdir(dir, { recursive: true });
      try {
        const cache = i === 2 ? warmCache : join(dir, 'cache');
        row.ours.push(await timed(process.execPath, bundleArgs(dir, i === 1 ? allPlatforms : onePlatform, cache)));
        const src = i === 1 ? `docker://${reference}` : `docker://${source.host}/bench/app@${one.manifest.digest}`;
        const dst = i === 1 ? `dir:${join(dir, 'skopeo-dir')}` : `docker-archive:${join(dir, 'skopeo.tar')}:bench/app:1`;
        row.peer.push(await timed('skopeo', ['copy', ...(i === 1 ? ['--all'] : []), '--src-tls-verify=false', src, dst]));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }

  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`\nbundle: polyarch bundle against skopeo moving the same bytes, medians of ${ROUNDS} interleaved runs; load average ${load}`);
  console.log(`index: ${made.images.length} platforms × ${LAYERS} layers, ${(allBytes / 1e6).toFixed(0)} MB of blobs\n`);
  const medians = rows.map((r) => ({
    row: r,
    ours: { seconds: median(r.ours.map((x) => x.seconds)), rss: median(r.ours.map((x) => x.peakRssMb)) },
    peer: { seconds: median(r.peer.map((x) => x.seconds)), rss: median(r.peer.map((x) => x.peakRssMb)) },
  }));
  printTable(
    ['scenario', 'polyarch s', 'MB/s', 'peak RSS MB', 'peer', 'peer s', 'MB/s', 'peak RSS MB', 'ratio (peer s / ours)'],
    medians.map(({ row, ours, peer }) => [
      row.name,
      ours.seconds.toFixed(2),
      (row.bytes / 1e6 / ours.seconds).toFixed(0),
      ours.rss.toFixed(0),
      row.peerName,
      peer.seconds.toFixed(2),
      (row.bytes / 1e6 / peer.seconds).toFixed(0),
      peer.rss.toFixed(0),
      ratio(peer.seconds, ours.seconds),
    ]),
  );
  console.log('');
  const factor = (i: number): number => medians[i]!.peer.seconds / medians[i]!.ours.seconds;
  // A bundle writes every byte twice (into the cache, then into the archive); skopeo once.
  targetLine('bundle one platform vs skopeo copy → docker-archive', factor(0), 0.8);
  targetLine('bundle all platforms vs skopeo copy --all → dir:', factor(1), 0.8);
  targetLine('bundle rerun on a warm cache vs skopeo copy → docker-archive', factor(2), 1.5);
  const peakRss = Math.max(...rows.flatMap((r) => r.ours.map((x) => x.peakRssMb)));
  // Flat whatever the layer size (blobs stream from the cache into the tar); copy alone peaks near 110 MB on this machine.
  targetLine('peak RSS of polyarch bundle (highest of every run)', peakRss, 128, { unit: ' MB', atMost: true });
} finally {
  await Promise.all(registries.map((r) => r.stop()));
  await rm(work, { recursive: true, force: true });
}
