// `npm run bench` (part 2): create + push of an 8-platform index whose images sit in the same
// registry, polyarch `index create` against `docker manifest create` + `annotate` + `push`, same
// run. A counting proxy in front of the registry sees every HTTP request each tool makes.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createEndpointOpener, parseLocation, type Platform } from '../src/index.js';
import { startDistribution } from '../test/helpers/distribution.js';
import { randomImage } from '../test/helpers/images.js';
import { startProxy } from '../test/helpers/proxy.js';
import { CLI_PATH as cli } from '../test/helpers/run-cli.js';

const exec = promisify(execFile);
const PLATFORMS: Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
  { os: 'linux', architecture: 'arm', variant: 'v6' },
  { os: 'linux', architecture: 'ppc64le' },
  { os: 'linux', architecture: 's390x' },
  { os: 'linux', architecture: 'riscv64' },
  { os: 'linux', architecture: '386' },
];
const suffix = (p: Platform): string => `${p.architecture}${p.variant ?? ''}`;

const registry = await startDistribution();
const proxy = await startProxy(registry.host);
const config = await mkdtemp(join(tmpdir(), 'polyarch-bench-docker-'));
try {
  const opener = createEndpointOpener();
  for (const platform of PLATFORMS) {
    const { endpoint } = await opener.open(parseLocation(`${registry.host}/bench/app-${suffix(platform)}:1`), 'write');
    await randomImage(endpoint, { platform, format: 'docker', tag: '1', layers: 3, bytes: 4 * 1024 * 1024, seed: `index-bench-${suffix(platform)}` });
  }
  await opener.close();
  const sources = PLATFORMS.map((p) => `${proxy.host}/bench/app-${suffix(p)}:1`);

  const measure = async (run: () => Promise<void>): Promise<{ seconds: number; requests: number; blobBodies: number }> => {
    proxy.seen.length = 0;
    const start = process.hrtime.bigint();
    await run();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const blobBodies = proxy.seen.filter((r) => (r.method === 'GET' && /\/blobs\/sha256:/.test(r.path)) || r.method === 'PATCH' || (r.method === 'PUT' && r.path.includes('/blobs/uploads/'))).length;
    return { seconds, requests: proxy.seen.length, blobBodies };
  };

  const polyarch = await measure(async () => {
    await exec(process.execPath, [cli, 'index', 'create', '-t', `${proxy.host}/bench/app:polyarch`, ...sources]);
  });
  const env = { ...process.env, DOCKER_CONFIG: config };
  const docker = await measure(async () => {
    await exec('docker', ['manifest', 'create', '--insecure', `${proxy.host}/bench/app:docker`, ...sources], { env });
    for (const [i, p] of PLATFORMS.entries()) {
      await exec('docker', ['manifest', 'annotate', `${proxy.host}/bench/app:docker`, sources[i]!, '--os', p.os, '--arch', p.architecture, ...(p.variant ? ['--variant', p.variant] : [])], { env });
    }
    await exec('docker', ['manifest', 'push', '--insecure', `${proxy.host}/bench/app:docker`], { env });
  });

  console.log(`\ncreate + push of an ${PLATFORMS.length}-platform index, images already in the same registry (3 × 4 MiB layers each)\n`);
  const rows = [
    ['polyarch index create', polyarch.seconds.toFixed(2), String(polyarch.requests), String(polyarch.blobBodies)],
    ['docker manifest create+annotate+push', docker.seconds.toFixed(2), String(docker.requests), String(docker.blobBodies)],
  ];
  const header = ['tool', 'seconds', 'HTTP requests', 'blob bodies moved (config reads)'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
} finally {
  await proxy.stop();
  await registry.stop();
  await rm(config, { recursive: true, force: true });
}
