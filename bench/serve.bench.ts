// `npm run bench` (part 3): the embedded registry (`polyarch serve`, its own process) against
// CNCF distribution (`docker-registry`), same clients, same run, interleaved (ours, peer, ours,
// peer…) and medians of BENCH_ROUNDS (3): one big blob (BENCH_BIG_MB, 1 GiB) GET and PUT with
// curl; push and pull of that blob and of a 3-platform index of about 600 MB with skopeo; server
// RSS sampled from /proc while each transfer runs and over 1,000 small requests; and the web
// page's data on a generated registry of 1,000 repositories × 20 tags.
import { execFile } from 'node:child_process';
import { createCipheriv, createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { pack } from 'tar-stream';
import { createEndpointOpener, parseLocation } from '../src/index.js';
import { startDistribution } from '../test/helpers/distribution.js';
import { randomIndex, THREE_PLATFORMS } from '../test/helpers/images.js';
import { startServeProcess } from '../test/helpers/serve-process.js';
import { printTable, ratio, seconds, targetLine } from './report.js';

const exec = promisify(execFile);
const BIG = Number(process.env.BENCH_BIG_MB ?? 1024) * 1024 * 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
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

/**
 * skopeo with a blob-info cache of its own for each run: the shared one would remember that an
 * earlier round pushed the blobs, and skopeo would mount them instead of uploading (a push of 0
 * bytes). As root that cache is system-wide, so skopeo is told to use the per-user location.
 */
async function skopeo(args: string[]): Promise<void> {
  const home = join(work, `skopeo-home-${randomUUID()}`);
  await mkdir(home, { recursive: true });
  try {
    await exec('skopeo', args, { env: { ...process.env, HOME: home, XDG_DATA_HOME: home, _CONTAINERS_ROOTLESS_UID: String(process.getuid?.() || 1000) } });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** Resident memory of a process, in MB. */
async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** curl's own transfer time of one request (`-w %{time_total}`), failing on any HTTP error. */
async function curlSeconds(args: string[]): Promise<number> {
  const { stdout } = await exec('curl', ['-sS', '--fail', '-o', '/dev/null', '-w', '%{time_total}', ...args], { maxBuffer: 1 << 20 });
  return Number(stdout);
}

/** A monolithic upload as curl does it: POST opens the session, one PUT carries the whole blob. */
async function curlPut(base: string, repo: string, file: string, digest: string): Promise<number> {
  const { stdout } = await exec('curl', ['-sS', '--fail', '-X', 'POST', '-D', '-', '-o', '/dev/null', `${base}/v2/${repo}/blobs/uploads/`]);
  const location = /^location:\s*(\S+)/im.exec(stdout)?.[1];
  if (!location) throw new Error(`no upload location from ${base}`);
  const url = new URL(location, base);
  url.searchParams.set('digest', digest);
  return curlSeconds(['-X', 'PUT', '-H', 'content-type: application/octet-stream', '-T', file, url.toString()]);
}

/** RSS after the first 100 and after 1,000 small requests of the kinds a pull makes, plus small pushes. */
async function rssOverRequests(base: string, pid: number, repo: string): Promise<{ after100: number; after1000: number }> {
  const small = Buffer.alloc(64 * 1024, 3);
  const digest = `sha256:${createHash('sha256').update(small).digest('hex')}`;
  const ok = async (res: Response): Promise<void> => {
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${res.url}: ${res.status}`);
  };
  // POST then PUT: distribution 2.8 answers a one-request POST with a session and ignores its body.
  const push = async (): Promise<void> => {
    const opened = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    await ok(opened);
    const url = new URL(opened.headers.get('location')!, base);
    url.searchParams.set('digest', digest);
    await ok(await fetch(url, { method: 'PUT', body: small, headers: { 'content-type': 'application/octet-stream' } }));
  };
  await push();
  let after100 = 0;
  for (let i = 1; i <= 1000; i++) {
    const kind = i % 4;
    if (kind === 0) await push();
    else if (kind === 1) await ok(await fetch(`${base}/v2/${repo}/blobs/${digest}`));
    else if (kind === 2) await ok(await fetch(`${base}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' }));
    else await ok(await fetch(`${base}/v2/`));
    if (i === 100) after100 = await rssMb(pid);
  }
  return { after100, after1000: await rssMb(pid) };
}

/**
 * A registry of `repos` repositories × `tags` tags written straight into a `serve` root (the
 * store's own layout, no fsync, no summaries): each tag its own small image manifest.
 */
async function generateRegistry(root: string, repos: number, tags: number): Promise<void> {
  const blobs = join(root, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (data: Buffer): Promise<string> => {
    const hex = createHash('sha256').update(data).digest('hex');
    await writeFile(join(blobs, hex), data);
    return hex;
  };
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', created: '2026-01-01T00:00:00Z' }));
  const configHex = await put(config);
  for (let r = 0; r < repos; r++) {
    const dir = join(root, 'repositories', 'gen', `repo-${String(r).padStart(4, '0')}`);
    await Promise.all(['_blobs', '_manifests', '_tags'].map((d) => mkdir(join(dir, d), { recursive: true })));
    await writeFile(join(dir, '_blobs', configHex), `sha256:${configHex}`);
    await Promise.all(
      Array.from({ length: tags }, async (_, t) => {
        const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configHex}`, size: config.length }, layers: [], annotations: { repo: String(r), tag: String(t) } }));
        const hex = await put(manifest);
        await writeFile(join(dir, '_blobs', hex), `sha256:${hex}`);
        await writeFile(join(dir, '_manifests', hex), 'application/vnd.oci.image.manifest.v1+json');
        await writeFile(join(dir, '_tags', `v${t}`), `sha256:${hex}`);
      }),
    );
  }
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
const distribution = await startDistribution();
const served = await startServeProcess(join(work, 'serve-root'));
const stopped: (() => Promise<void>)[] = [];
try {
  process.stderr.write(`generating a ${BIG >> 20} MiB layer and a 3-platform index…\n`);
  await bigImageLayout(join(work, 'big'), BIG);
  const opener = createEndpointOpener();
  const { endpoint } = await opener.open(parseLocation(`oci:${join(work, 'index')}:1`), 'write');
  await randomIndex(endpoint, THREE_PLATFORMS, { tag: '1', layers: 5, bytes: 40 * 1024 * 1024, seed: 'serve-bench' });
  await opener.close();
  const bigBlobs = join(work, 'big', 'blobs', 'sha256');
  let bigHex = '';
  for (const name of await readdir(bigBlobs)) if ((await stat(join(bigBlobs, name))).size >= BIG) bigHex = name;
  const bigFile = join(bigBlobs, bigHex);
  const bigMb = (await stat(bigFile)).size / 1e6;

  const servers = [
    { name: 'polyarch serve', base: `http://${served.host}`, host: served.host, pid: served.child.pid! },
    { name: 'docker-registry', base: `http://${distribution.host}`, host: distribution.host, pid: distribution.pid },
  ] as const;
  const noTls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  type Sample = { seconds: number; peakMb: number };
  const samples = new Map<string, Sample[]>();
  const record = (key: string, sample: Sample): void => void samples.set(key, [...(samples.get(key) ?? []), sample]);

  // Small requests and the page first: quick, and they fail early if something is off.
  const flat = [];
  for (const server of servers) flat.push({ server: server.name, ...(await rssOverRequests(server.base, server.pid, 'bench/small')) });
  console.log('\nserver RSS over 1,000 small requests (GET, HEAD and pushes of a 64 KiB blob, /v2/)\n');
  printTable(['server', 'RSS after 100 MB', 'RSS after 1,000 MB', 'growth MB'], flat.map((f) => [f.server, f.after100.toFixed(1), f.after1000.toFixed(1), (f.after1000 - f.after100).toFixed(1)]));

  // The web page's data on a registry of 1,000 repositories × 20 tags (a server of its own).
  process.stderr.write('generating 1,000 repositories × 20 tags…\n');
  const pageRoot = join(work, 'page-root');
  await generateRegistry(pageRoot, 1000, 20);
  const pageServer = await startServeProcess(pageRoot);
  stopped.push(async () => void pageServer.child.kill('SIGTERM'));
  const pageBase = `http://${pageServer.host}`;
  const cold = await seconds(() => getJson(`${pageBase}/api/repositories`));
  const warm: number[] = [];
  const search: number[] = [];
  const tagPages: number[] = [];
  for (let i = 0; i < 3; i++) {
    warm.push(await seconds(() => getJson(`${pageBase}/api/repositories`)));
    search.push(await seconds(() => getJson(`${pageBase}/api/repositories?q=repo-09&page=2&per_page=20`)));
    tagPages.push(await seconds(() => getJson(`${pageBase}/api/tags?repository=gen/repo-0500&page=2&per_page=10`)));
  }
  const firstVisit = await seconds(() => getJson(`${pageBase}/api/repositories?page=40`));
  console.log('\nweb page data, 1,000 repositories × 20 tags (summaries built on first use; medians of 3)\n');
  printTable(['request', 'seconds'], [
    ['first page, no summaries yet', cold.toFixed(3)],
    ['first page again', median(warm).toFixed(3)],
    ['page 40, no summaries yet', firstVisit.toFixed(3)],
    ['search + page 2', median(search).toFixed(3)],
    ['one repository, tags page 2', median(tagPages).toFixed(3)],
  ]);
  pageServer.child.kill('SIGTERM');

  // Interleaved: in each round every case runs on ours, then on the peer.
  for (let round = 0; round < ROUNDS; round++) {
    process.stderr.write(`round ${round + 1} of ${ROUNDS}…\n`);
    for (const server of servers) {
      let took = 0;
      const put = await measure(server.pid, async () => (took = await curlPut(server.base, `bench/curl-${round}`, bigFile, `sha256:${bigHex}`)));
      record(`${server.name}|put`, { seconds: took, peakMb: put.peakMb });
    }
    for (const server of servers) {
      let took = 0;
      const get = await measure(server.pid, async () => (took = await curlSeconds([`${server.base}/v2/bench/curl-${round}/blobs/sha256:${bigHex}`])));
      record(`${server.name}|get`, { seconds: took, peakMb: get.peakMb });
    }
    for (const layout of ['big', 'index'] as const) {
      for (const server of servers) {
        const push = await measure(server.pid, () => skopeo(['copy', '--all', ...noTls, `oci:${join(work, layout)}:1`, `docker://${server.host}/bench/${layout}-${round}:1`]));
        record(`${server.name}|push-${layout}`, push);
      }
      for (const server of servers) {
        const out = join(work, `pulled-${server.pid}-${layout}`);
        const pull = await measure(server.pid, () => skopeo(['copy', '--all', ...noTls, `docker://${server.host}/bench/${layout}-${round}:1`, `oci:${out}:1`]));
        await rm(out, { recursive: true, force: true });
        record(`${server.name}|pull-${layout}`, pull);
      }
    }
  }

  const med = (server: string, what: string): Sample => {
    const list = samples.get(`${server}|${what}`)!;
    return { seconds: median(list.map((s) => s.seconds)), peakMb: Math.max(...list.map((s) => s.peakMb)) };
  };
  const cases = [
    ['put', `${BIG >> 20} MiB blob PUT, curl`, bigMb],
    ['get', `${BIG >> 20} MiB blob GET, curl`, bigMb],
    ['push-big', `${BIG >> 20} MiB image push, skopeo`, bigMb],
    ['pull-big', `${BIG >> 20} MiB image pull, skopeo`, bigMb],
    ['push-index', '3-platform index push, skopeo copy --all', 629],
    ['pull-index', '3-platform index pull, skopeo copy --all', 629],
  ] as const;
  const [ours, peer] = [servers[0].name, servers[1].name];
  const rows = cases.map(([key, what, mb]) => {
    const a = med(ours, key);
    const b = med(peer, key);
    return [what, a.seconds.toFixed(2), (mb / a.seconds).toFixed(0), a.peakMb.toFixed(0), b.seconds.toFixed(2), (mb / b.seconds).toFixed(0), b.peakMb.toFixed(0), ratio(b.seconds, a.seconds)];
  });
  console.log(`\nembedded registry vs CNCF distribution, same clients, interleaved, medians of ${ROUNDS} (load average ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')})\n`);
  printTable(['work', 'serve s', 'serve MB/s', 'serve peak RSS MB', 'distribution s', 'distribution MB/s', 'distribution peak RSS MB', 'ratio'], rows);

  console.log('');
  const ratioOf = (key: string): number => med(peer, key).seconds / med(ours, key).seconds;
  targetLine('serve blob GET vs distribution (curl)', ratioOf('get'), 1.0);
  targetLine('serve blob PUT vs distribution (curl)', ratioOf('put'), 1.0);
  targetLine('skopeo copy --all of the index into serve vs into distribution', ratioOf('push-index'), 1.0);
  targetLine(`serve peak RSS moving the ${BIG >> 20} MiB blob`, Math.max(...['put', 'get', 'push-big', 'pull-big'].map((k) => med(ours, k).peakMb)), 80, { unit: ' MB', atMost: true });
  targetLine('serve RSS growth from request 100 to 1,000', flat[0]!.after1000 - flat[0]!.after100, 5, { unit: ' MB', atMost: true });
  targetLine('page data for 1,000 × 20, summaries kept by pushes (first page again, search, tags page)', Math.max(median(warm), median(search), median(tagPages)), 1, { unit: ' s', atMost: true });
  targetLine('page data for 1,000 × 20, a page whose summaries must be built first', Math.max(cold, firstVisit), 1, { unit: ' s', atMost: true });
} finally {
  for (const stop of stopped) await stop();
  served.child.kill('SIGTERM');
  await distribution.stop();
  await rm(work, { recursive: true, force: true });
}
