// `npm run bench`: polyarch copy against skopeo copy --all, same content, same run.
// A 3-platform index of about 600 MB (5 layers per platform, BENCH_LAYER_MB each, default 40) is
// generated into one local registry and, through skopeo, into an OCI layout. Each scenario is run
// by both tools in turn (polyarch, skopeo, polyarch, skopeo…) BENCH_ROUNDS times (default 3), every
// run into a fresh destination (a new registry process, or a new directory); the table shows the
// medians. One more row copies an image whose single layer (BENCH_BIG_MB, default 256) is larger
// than an upload chunk, to show memory stays flat whatever the blob size. Wall time and peak RSS
// come from GNU time for both tools alike.
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createEndpointOpener, parseLocation } from '../src/index.js';
import { startDistribution, type DistributionHandle } from '../test/helpers/distribution.js';
import { randomImage, randomIndex, THREE_PLATFORMS } from '../test/helpers/images.js';
import { CLI_PATH as cli } from '../test/helpers/run-cli.js';
import { type Run, median, printTable, ratio, targetLine, timed } from './report.js';

const exec = promisify(execFile);
const LAYER_BYTES = Number(process.env.BENCH_LAYER_MB ?? 40) * 1024 * 1024;
const BIG_BYTES = Number(process.env.BENCH_BIG_MB ?? 256) * 1024 * 1024;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const LAYERS = 5;

/** Where one run writes, made fresh for it; `location` is the same string for both tools' syntax but the prefix. */
type Destination = { polyarch: string; skopeo: string; done(): Promise<void> };

async function freshRegistry(): Promise<Destination> {
  const registry = await startDistribution();
  const ref = `${registry.host}/bench/app:1`;
  return { polyarch: ref, skopeo: `docker://${ref}`, done: () => registry.stop() };
}

function freshLayout(work: string, name: string): () => Promise<Destination> {
  let n = 0;
  return async () => {
    const dir = join(work, `${name}-${n++}`);
    return { polyarch: `oci:${dir}:1`, skopeo: `oci:${dir}:1`, done: () => rm(dir, { recursive: true, force: true }) };
  };
}

interface Scenario {
  readonly name: string;
  readonly bytes: number;
  readonly source: { polyarch: string; skopeo: string };
  readonly destination: () => Promise<Destination>;
}

const work = resolve('bench/work');
await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
const registries: DistributionHandle[] = [];
try {
  const source = await startDistribution();
  registries.push(source);
  const opener = createEndpointOpener();
  process.stderr.write(`generating ${THREE_PLATFORMS.length}×${LAYERS} layers of ${LAYER_BYTES >> 20} MiB and one layer of ${BIG_BYTES >> 20} MiB…\n`);
  const { endpoint } = await opener.open(parseLocation(`${source.host}/bench/app:1`), 'write');
  const made = await randomIndex(endpoint, THREE_PLATFORMS, { tag: '1', layers: LAYERS, bytes: LAYER_BYTES, seed: 'bench' });
  const big = await opener.open(parseLocation(`${source.host}/bench/big:1`), 'write');
  const bigImage = await randomImage(big.endpoint, { platform: THREE_PLATFORMS[0]!, layers: 1, bytes: BIG_BYTES, seed: 'bench-big', tag: '1' });
  await opener.close();
  const indexBytes = made.images.reduce((sum, i) => sum + i.layers.reduce((s, l) => s + l.descriptor.size, 0) + i.config.size, 0);
  const bigBytes = bigImage.layers.reduce((s, l) => s + l.descriptor.size, 0) + bigImage.config.size;

  const registrySource = `${source.host}/bench/app:1`;
  const layoutSource = join(work, 'source-layout');
  await exec('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${registrySource}`, `oci:${layoutSource}:1`]);

  const scenarios: Scenario[] = [
    { name: 'registry → registry', bytes: indexBytes, source: { polyarch: registrySource, skopeo: `docker://${registrySource}` }, destination: freshRegistry },
    { name: 'registry → oci layout', bytes: indexBytes, source: { polyarch: registrySource, skopeo: `docker://${registrySource}` }, destination: freshLayout(work, 'layout') },
    { name: 'oci layout → registry', bytes: indexBytes, source: { polyarch: `oci:${layoutSource}:1`, skopeo: `oci:${layoutSource}:1` }, destination: freshRegistry },
    {
      name: `registry → registry, one ${BIG_BYTES >> 20} MiB layer`,
      bytes: bigBytes,
      source: { polyarch: `${source.host}/bench/big:1`, skopeo: `docker://${source.host}/bench/big:1` },
      destination: freshRegistry,
    },
  ];
  const noTls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  const runs = new Map<string, { polyarch: Run[]; skopeo: Run[] }>(scenarios.map((s) => [s.name, { polyarch: [], skopeo: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const scenario of scenarios) {
      const into = runs.get(scenario.name)!;
      for (const tool of ['polyarch', 'skopeo'] as const) {
        const destination = await scenario.destination();
        try {
          into[tool].push(
            tool === 'polyarch'
              ? await timed(process.execPath, [cli, 'copy', scenario.source.polyarch, destination.polyarch])
              : await timed('skopeo', ['copy', '--all', ...noTls, scenario.source.skopeo, destination.skopeo]),
          );
        } finally {
          await destination.done();
        }
      }
    }
  }

  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`\ncopy: polyarch against skopeo copy --all, medians of ${ROUNDS} interleaved runs; load average ${load}`);
  console.log(`index: ${THREE_PLATFORMS.length} platforms × ${LAYERS} layers, ${(indexBytes / 1e6).toFixed(0)} MB of blobs\n`);
  const header = ['scenario', 'polyarch s', 'MB/s', 'peak RSS MB', 'skopeo s', 'MB/s', 'peak RSS MB', 'ratio (skopeo s / ours)'];
  const medians = scenarios.map((s) => {
    const r = runs.get(s.name)!;
    const ours = { seconds: median(r.polyarch.map((x) => x.seconds)), rss: median(r.polyarch.map((x) => x.peakRssMb)) };
    const peer = { seconds: median(r.skopeo.map((x) => x.seconds)), rss: median(r.skopeo.map((x) => x.peakRssMb)) };
    return { scenario: s, ours, peer };
  });
  printTable(
    header,
    medians.map(({ scenario, ours, peer }) => [
      scenario.name,
      ours.seconds.toFixed(2),
      (scenario.bytes / 1e6 / ours.seconds).toFixed(0),
      ours.rss.toFixed(0),
      peer.seconds.toFixed(2),
      (scenario.bytes / 1e6 / peer.seconds).toFixed(0),
      peer.rss.toFixed(0),
      ratio(peer.seconds, ours.seconds),
    ]),
  );
  console.log('');
  const factor = (i: number): number => medians[i]!.peer.seconds / medians[i]!.ours.seconds;
  targetLine('copy registry → registry vs skopeo', factor(0), 1.1);
  targetLine('copy registry → oci layout vs skopeo', factor(1), 1.5);
  targetLine('copy oci layout → registry vs skopeo', factor(2), 1.3);
  const peakRss = Math.max(...[...runs.values()].flatMap((r) => r.polyarch.map((x) => x.peakRssMb)));
  targetLine('peak RSS of polyarch copy (highest of every run)', peakRss, 80, { unit: ' MB', atMost: true });
} finally {
  await Promise.all(registries.map((r) => r.stop()));
  await rm(work, { recursive: true, force: true });
}
