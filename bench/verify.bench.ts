// `npm run bench`: polyarch verify against skopeo copy --all of the same index, same run. verify
// reads every layer once (download, digest check, decompression, tar walk), so it should cost no
// more than one pass over the compressed bytes: here, no more than skopeo takes to move them from
// the registry into a fresh OCI layout. A 3-platform index (5 layers per platform, BENCH_LAYER_MB
// each, default 40: about 600 MB) is generated into a local registry; the tools run in turn
// BENCH_ROUNDS times (default 3) and the table shows the medians. Wall time and peak RSS come from
// GNU time for both tools alike.
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEndpointOpener, parseLocation } from '../src/index.js';
import { startDistribution } from '../test/helpers/distribution.js';
import { randomIndex, THREE_PLATFORMS } from '../test/helpers/images.js';
import { CLI_PATH as cli } from '../test/helpers/run-cli.js';
import { type Run, median, printTable, ratio, targetLine, timed } from './report.js';

const LAYER_BYTES = Number(process.env.BENCH_LAYER_MB ?? 40) * 1024 * 1024;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const LAYERS = 5;

const work = await mkdtemp(join(tmpdir(), 'polyarch-verify-bench-'));
const registry = await startDistribution();
try {
  process.stderr.write(`generating ${THREE_PLATFORMS.length}×${LAYERS} layers of ${LAYER_BYTES >> 20} MiB…\n`);
  const opener = createEndpointOpener();
  const reference = `${registry.host}/bench/verify:1`;
  const { endpoint } = await opener.open(parseLocation(reference), 'write');
  const made = await randomIndex(endpoint, THREE_PLATFORMS, { tag: '1', layers: LAYERS, bytes: LAYER_BYTES, seed: 'verify-bench' });
  await opener.close();
  const bytes = made.images.reduce((sum, i) => sum + i.layers.reduce((s, l) => s + l.descriptor.size, 0) + i.config.size, 0);

  const ours: Run[] = [];
  const peer: Run[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    ours.push(await timed(process.execPath, [cli, 'verify', '--quiet', reference]));
    const destination = join(work, `copy-${round}`);
    try {
      peer.push(await timed('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${reference}`, `oci:${destination}:1`]));
    } finally {
      await rm(destination, { recursive: true, force: true });
    }
  }

  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`\nverify: polyarch verify against skopeo copy --all of the same index, medians of ${ROUNDS} interleaved runs; load average ${load}`);
  console.log(`index: ${THREE_PLATFORMS.length} platforms × ${LAYERS} layers, ${(bytes / 1e6).toFixed(0)} MB of blobs\n`);
  const o = { seconds: median(ours.map((r) => r.seconds)), rss: median(ours.map((r) => r.peakRssMb)) };
  const p = { seconds: median(peer.map((r) => r.seconds)), rss: median(peer.map((r) => r.peakRssMb)) };
  printTable(
    ['scenario', 'polyarch verify s', 'MB/s', 'peak RSS MB', 'skopeo copy s', 'MB/s', 'peak RSS MB', 'ratio (skopeo s / ours)'],
    [
      [
        'registry, 3-platform index',
        o.seconds.toFixed(2),
        (bytes / 1e6 / o.seconds).toFixed(0),
        o.rss.toFixed(0),
        p.seconds.toFixed(2),
        (bytes / 1e6 / p.seconds).toFixed(0),
        p.rss.toFixed(0),
        ratio(p.seconds, o.seconds),
      ],
    ],
  );
  console.log('');
  targetLine('verify ≤ one pass over the compressed bytes (≤ skopeo copy time)', o.seconds / p.seconds, 1, { atMost: true });
} finally {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
}
