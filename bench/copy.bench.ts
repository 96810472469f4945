// `npm run bench`: polyarch copy against skopeo copy --all, same content, same run.
// A 3-platform index of about 600 MB (5 layers per platform) is generated into one local
// registry, then copied registry → registry and registry → OCI layout by each tool into its own
// fresh destination. Wall time and peak RSS come from GNU time for both tools alike.
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createEndpointOpener, parseLocation } from '../src/index.js';
import { startDistribution, type DistributionHandle } from '../test/helpers/distribution.js';
import { randomIndex, THREE_PLATFORMS } from '../test/helpers/images.js';

const exec = promisify(execFile);
const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const LAYER_BYTES = Number(process.env.BENCH_LAYER_MB ?? 40) * 1024 * 1024;
const LAYERS = 5;

interface Measurement {
  readonly tool: string;
  readonly scenario: string;
  readonly seconds: number;
  readonly peakRssMb: number;
}

async function timed(tool: string, scenario: string, command: string, args: string[]): Promise<Measurement> {
  const { stderr } = await exec('/usr/bin/time', ['-f', 'BENCH %e %M', command, ...args], { maxBuffer: 64 * 1024 * 1024 });
  const line = stderr.split('\n').find((l) => l.startsWith('BENCH '));
  if (!line) throw new Error(`no timing from ${tool}: ${stderr}`);
  const [, seconds, kb] = line.split(' ');
  return { tool, scenario, seconds: Number(seconds), peakRssMb: Number(kb) / 1024 };
}

const work = resolve('bench/work');
await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
const registries: DistributionHandle[] = [];
try {
  const [source, forPolyarch, forSkopeo] = await Promise.all([startDistribution(), startDistribution(), startDistribution()]);
  registries.push(source!, forPolyarch!, forSkopeo!);
  const opener = createEndpointOpener();
  const { endpoint } = await opener.open(parseLocation(`${source!.host}/bench/app:1`), 'write');
  process.stderr.write(`generating ${THREE_PLATFORMS.length}×${LAYERS} layers of ${LAYER_BYTES >> 20} MiB…\n`);
  const made = await randomIndex(endpoint, THREE_PLATFORMS, { tag: '1', layers: LAYERS, bytes: LAYER_BYTES, seed: 'bench' });
  await opener.close();
  const totalBytes = made.images.reduce((sum, i) => sum + i.layers.reduce((s, l) => s + l.descriptor.size, 0) + i.config.size, 0);

  const src = `${source!.host}/bench/app:1`;
  const noTls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  const results: Measurement[] = [
    await timed('polyarch', 'registry → registry', process.execPath, [cli, 'copy', src, `${forPolyarch!.host}/bench/app:1`]),
    await timed('skopeo', 'registry → registry', 'skopeo', ['copy', '--all', ...noTls, `docker://${src}`, `docker://${forSkopeo!.host}/bench/app:1`]),
    await timed('polyarch', 'registry → oci layout', process.execPath, [cli, 'copy', src, `oci:${join(work, 'polyarch-layout')}:1`]),
    await timed('skopeo', 'registry → oci layout', 'skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${src}`, `oci:${join(work, 'skopeo-layout')}:1`]),
  ];

  const mb = totalBytes / 1e6;
  console.log(`\ncopy of a ${THREE_PLATFORMS.length}-platform index, ${LAYERS} layers per platform, ${mb.toFixed(0)} MB of blobs (targets: ≥2× skopeo throughput, peak RSS < 150 MB)\n`);
  const rows = results.map((r) => {
    const peer = results.find((p) => p.scenario === r.scenario && p.tool !== r.tool)!;
    return [r.scenario, r.tool, r.seconds.toFixed(2), (mb / r.seconds).toFixed(0), r.peakRssMb.toFixed(0), r.tool === 'polyarch' ? `${(peer.seconds / r.seconds).toFixed(2)}×` : ''];
  });
  const header = ['scenario', 'tool', 'seconds', 'MB/s', 'peak RSS MB', 'vs skopeo'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
} finally {
  await Promise.all(registries.map((r) => r.stop()));
  await rm(work, { recursive: true, force: true });
}
