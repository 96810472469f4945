// `node build/bench/progress.bench.js`: what progress reporting costs a copy. The same copy
// (registry → OCI layout, a 3-platform index of BENCH_PROGRESS_LAYER_MB-MiB layers, default 32)
// is run with no listener, with a listener at the default throttle, and with one hearing every
// chunk, interleaved, BENCH_ROUNDS times (default 3); the table shows medians, each against the
// copy with no listener in the same run. A second table is why bytes are counted by a listener on
// the verified stream and not by a Transform in between: a blob of BENCH_PROGRESS_BLOB_MB
// (default 256) streamed from disk through its verifier into the layout's verified writer, which
// hashes again whatever is not the verifier itself.
import { createReadStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { copy, createEndpointOpener, observeBytes, parseLocation, type TransferProgress } from '../src/index.js';
import { digestOfBytes } from '../src/digest/digest.js';
import { verifiedStream } from '../src/digest/verify-stream.js';
import { countBytes } from '../src/internal/streams.js';
import { writeVerifiedTemp } from '../src/store/atomic-write.js';
import { startDistribution } from '../test/helpers/distribution.js';
import { randomIndex, seededBytes, THREE_PLATFORMS } from '../test/helpers/images.js';
import { median, printTable, ratio, seconds, targetLine } from './report.js';

const LAYER_BYTES = Number(process.env.BENCH_PROGRESS_LAYER_MB ?? 32) * 1024 * 1024;
const BLOB_BYTES = Number(process.env.BENCH_PROGRESS_BLOB_MB ?? 256) * 1024 * 1024;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const LAYERS = 3;

/** A listener that does what a display does with each report: keep the latest count per blob. */
function counting(): (event: TransferProgress) => void {
  const latest = new Map<string, number>();
  return (event) => void latest.set(event.id, event.transferred);
}

const work = resolve('bench/work-progress');
await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
const registry = await startDistribution();
try {
  process.stderr.write(`generating ${THREE_PLATFORMS.length}×${LAYERS} layers of ${LAYER_BYTES >> 20} MiB…\n`);
  const opener = createEndpointOpener();
  const { endpoint } = await opener.open(parseLocation(`${registry.host}/bench/progress:1`), 'write');
  const made = await randomIndex(endpoint, THREE_PLATFORMS, { tag: '1', layers: LAYERS, bytes: LAYER_BYTES, seed: 'bench-progress' });
  await opener.close();
  const bytes = made.images.reduce((sum, i) => sum + i.layers.reduce((s, l) => s + l.descriptor.size, 0) + i.config.size, 0);

  const variants = [
    { name: 'no listener', options: {} },
    { name: 'onProgress, default throttle (100 ms)', options: { onProgress: counting() } },
    { name: 'onProgress, every chunk', options: { onProgress: counting(), progressIntervalMs: 0 } },
  ] as const;
  const times = variants.map(() => [] as number[]);
  let n = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, variant] of variants.entries()) {
      const dir = join(work, `layout-${n++}`);
      times[i]!.push(await seconds(() => copy({ source: `${registry.host}/bench/progress:1`, destination: `oci:${dir}:1`, ...variant.options })));
      await rm(dir, { recursive: true, force: true });
    }
  }
  const medians = times.map(median);
  const base = medians[0]!;
  console.log(`\nprogress: copy registry → OCI layout with and without a progress listener, medians of ${ROUNDS} interleaved runs; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`index: ${THREE_PLATFORMS.length} platforms × ${LAYERS} layers, ${(bytes / 1e6).toFixed(0)} MB of blobs\n`);
  printTable(
    ['copy', 'seconds', 'MB/s', 'ratio (no listener s / this)'],
    variants.map((v, i) => [v.name, medians[i]!.toFixed(2), (bytes / 1e6 / medians[i]!).toFixed(0), ratio(base, medians[i]!)]),
  );
  console.log('');
  // The target is the listener the CLI gives: every byte counted, reports throttled. The row that
  // hears every chunk shows what a listener without the throttle would cost.
  targetLine('progress costs ≤ 2% (default listener against none)', (medians[1]! / base - 1) * 100, 2, { unit: '%', atMost: true });

  // Where the count is taken: a listener on the verifier, or a counting Transform after it.
  process.stderr.write(`writing a ${BLOB_BYTES >> 20} MiB blob…\n`);
  const blob = join(work, 'blob');
  const content = seededBytes('bench-progress-blob', BLOB_BYTES);
  await writeFile(blob, content);
  const digest = digestOfBytes(content);
  const expected = { digest, size: BLOB_BYTES };
  const store = async (through: (verified: ReturnType<typeof verifiedStream>) => Readable): Promise<void> => {
    const temp = await writeVerifiedTemp(join(work, 'tmp'), through(verifiedStream(createReadStream(blob), expected)), { ...expected, sync: false });
    await rm(temp);
  };
  const ways = [
    { name: 'not counted', through: (v: ReturnType<typeof verifiedStream>) => v },
    {
      name: 'listener on the verifier (used)',
      through: (v: ReturnType<typeof verifiedStream>) => {
        let total = 0;
        observeBytes(v, (b) => void (total += b));
        return v;
      },
    },
    { name: 'counting Transform after it', through: (v: ReturnType<typeof verifiedStream>) => v.pipe(countBytes()) },
  ];
  const streamTimes = ways.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) for (const [i, way] of ways.entries()) streamTimes[i]!.push(await seconds(() => store(way.through)));
  const streamMedians = streamTimes.map(median);
  console.log(`\nwhere bytes are counted: a ${BLOB_BYTES >> 20} MiB blob from disk through its verifier into the layout's verified writer, medians of ${ROUNDS}\n`);
  printTable(
    ['counting', 'seconds', 'MB/s', 'ratio (not counted s / this)'],
    ways.map((w, i) => [w.name, streamMedians[i]!.toFixed(2), (BLOB_BYTES / 1e6 / streamMedians[i]!).toFixed(0), ratio(streamMedians[0]!, streamMedians[i]!)]),
  );
} finally {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
}
