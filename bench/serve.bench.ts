// `npm run bench` (part 3): the embedded registry (`polyarch serve`, its own process) against
// CNCF distribution (`docker-registry`), same client (skopeo), same run: push and pull of one
// 1 GiB blob and of a 3-platform index of about 600 MB. Server RSS is sampled from /proc while
// each transfer runs.
import { execFile } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { pack } from 'tar-stream';
import { createEndpointOpener, parseLocation } from '../src/index.js';
import { startDistribution } from '../test/helpers/distribution.js';
import { randomIndex, THREE_PLATFORMS } from '../test/helpers/images.js';
import { startServeProcess } from '../test/helpers/serve-process.js';

const exec = promisify(execFile);
const BIG = Number(process.env.BENCH_BIG_MB ?? 1024) * 1024 * 1024;
const work = resolve('bench/work-serve');

/** An OCI layout holding one image whose only layer is an uncompressed tar of `size` random bytes. */
async function bigImageLayout(dir: string, size: number): Promise<void> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const temp = join(blobs, 'layer.tmp');
  const hash = createHash('sha256');
  const tar = pack();
  const out = createWriteStream(temp);
  let bytes = 0;
  tar.on('data', (c: unknown) => {
    hash.update(c as Buffer);
    bytes += (c as Buffer).length;
  });
  tar.pipe(out);
  const entry = tar.entry({ name: 'big.bin', size, mtime: new Date(0) });
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16));
  const zeros = Buffer.alloc(1 << 20);
  for (let left = size; left > 0; left -= zeros.length) {
    const chunk = cipher.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
    if (!entry.write(chunk)) await new Promise<void>((r) => entry.once('drain', () => r()));
  }
  (entry as unknown as { end(): void }).end();
  tar.finalize();
  await new Promise<void>((r) => out.on('finish', () => r()));
  const layer = `sha256:${hash.digest('hex')}`;
  await rename(temp, join(blobs, layer.slice(7)));
  const put = async (value: unknown) => {
    const data = Buffer.from(JSON.stringify(value));
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    await writeFile(join(blobs, digest.slice(7)), data);
    return { digest, size: data.length };
  };
  const config = await put({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer] } });
  const manifest = await put({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: bytes }] });
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': '1' } }] }));
}

/** Runs `work` while sampling the server's resident memory; returns seconds and the peak in MB. */
async function measure(pid: number, work: () => Promise<unknown>): Promise<{ seconds: number; peakMb: number }> {
  let peak = 0;
  const sample = async () => {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    peak = Math.max(peak, kb);
  };
  const timer = setInterval(() => void sample(), 50);
  const start = process.hrtime.bigint();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  await sample();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, peakMb: peak / 1024 };
}

await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
const distribution = await startDistribution();
const served = await startServeProcess(join(work, 'serve-root'));
try {
  process.stderr.write(`generating a ${BIG >> 20} MiB layer and a 3-platform index…\n`);
  await bigImageLayout(join(work, 'big'), BIG);
  const opener = createEndpointOpener();
  const { endpoint } = await opener.open(parseLocation(`oci:${join(work, 'index')}:1`), 'write');
  await randomIndex(endpoint, THREE_PLATFORMS, { tag: '1', layers: 5, bytes: 40 * 1024 * 1024, seed: 'serve-bench' });
  await opener.close();

  const noTls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  const rows: string[][] = [];
  for (const [server, host, pid] of [
    ['polyarch serve', served.host, served.child.pid!],
    ['docker-registry', distribution.host, distribution.pid],
  ] as const) {
    for (const [what, layout, mb] of [
      [`${BIG >> 20} MiB blob`, 'big', BIG / 1e6],
      ['3-platform index', 'index', 0],
    ] as const) {
      const push = await measure(pid, () => exec('skopeo', ['copy', '--all', ...noTls, `oci:${join(work, layout)}:1`, `docker://${host}/bench/${layout}:1`]));
      const out = join(work, `pulled-${pid}-${layout}`);
      const pull = await measure(pid, () => exec('skopeo', ['copy', '--all', ...noTls, `docker://${host}/bench/${layout}:1`, `oci:${out}:1`]));
      await rm(out, { recursive: true, force: true });
      const size = mb || 629;
      rows.push([server, what, push.seconds.toFixed(2), (size / push.seconds).toFixed(0), pull.seconds.toFixed(2), (size / pull.seconds).toFixed(0), Math.max(push.peakMb, pull.peakMb).toFixed(0)]);
    }
  }
  console.log('\nembedded registry vs CNCF distribution, client skopeo (targets: throughput ≥ distribution, serve RSS < 100 MB during the 1 GiB upload)\n');
  const header = ['server', 'content', 'push s', 'push MB/s', 'pull s', 'pull MB/s', 'server peak RSS MB'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
} finally {
  served.child.kill('SIGTERM');
  await distribution.stop();
  await rm(work, { recursive: true, force: true });
}
