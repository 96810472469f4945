// `node build/bench/web-pages.bench.js [--repos N]`: how long `polyarch serve` takes to render
// its web pages (repository list, search, a repository's tags, a tag page) on a registry of 100
// repositories and on one of N (default 1,000), each repository holding 20 tags of a 2-platform
// index. The issue asks for a cost independent of the registry's size, so the peer of each figure
// is the same page on the small registry, in the same run; the ratio column is large ÷ small.
// Both servers run at once and every round asks each page of the small one, then of the large one,
// so load from other work touches both alike. Summaries are built on the first visit (not timed);
// medians of 9 rounds after that.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServeProcess } from '../test/helpers/serve-process.js';
import { median, printTable, seconds, targetLine } from './report.js';

const TAGS = 20;
const RUNS = 9;
const SMALL = 100;
const argIndex = process.argv.indexOf('--repos');
const LARGE = argIndex > 0 ? Number(process.argv[argIndex + 1]) : 1000;
if (!Number.isSafeInteger(LARGE) || LARGE <= SMALL) throw new Error(`--repos must be a whole number above ${SMALL}`);

/** Writes a registry root as `polyarch serve` stores it: per repository 20 tags, each an index of two images with configs. */
async function generateRegistry(root: string, repos: number): Promise<void> {
  const blobs = join(root, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (data: Buffer): Promise<string> => {
    const hex = createHash('sha256').update(data).digest('hex');
    await writeFile(join(blobs, hex), data);
    return hex;
  };
  const images: { hex: string; size: number; arch: string; configHex: string }[] = [];
  for (const arch of ['amd64', 'arm64']) {
    const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: arch, created: '2026-01-01T00:00:00Z', config: { Cmd: ['/app'], Env: ['PATH=/bin'], Labels: { a: 'b' } }, history: [{ created_by: 'COPY app /app' }] }));
    const configHex = await put(config);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configHex}`, size: config.length }, layers: [] }));
    images.push({ hex: await put(manifest), size: manifest.length, arch, configHex });
  }
  for (let r = 0; r < repos; r++) {
    const dir = join(root, 'repositories', 'gen', `repo-${String(r).padStart(4, '0')}`);
    await Promise.all(['_blobs', '_manifests', '_tags'].map((d) => mkdir(join(dir, d), { recursive: true })));
    for (const image of images) {
      await writeFile(join(dir, '_blobs', image.configHex), `sha256:${image.configHex}`);
      await writeFile(join(dir, '_blobs', image.hex), `sha256:${image.hex}`);
      await writeFile(join(dir, '_manifests', image.hex), 'application/vnd.oci.image.manifest.v1+json');
    }
    await Promise.all(
      Array.from({ length: TAGS }, async (_, t) => {
        const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: images.map((i) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${i.hex}`, size: i.size, platform: { os: 'linux', architecture: i.arch } })), annotations: { repo: String(r), tag: String(t) } }));
        const hex = await put(index);
        await writeFile(join(dir, '_blobs', hex), `sha256:${hex}`);
        await writeFile(join(dir, '_manifests', hex), 'application/vnd.oci.image.index.v1+json');
        await writeFile(join(dir, '_tags', `v${t}`), `sha256:${hex}`);
      }),
    );
  }
}

async function getPage(url: string): Promise<void> {
  const res = await fetch(url);
  const body = await res.text();
  if (res.status !== 200 || !body.startsWith('<!doctype html>')) throw new Error(`${url}: ${res.status}`);
}

const pages = [
  { name: 'repository list, page 1', path: '/' },
  { name: 'repository list, search + page 2', path: '/?q=repo-00&page=2' },
  { name: 'a repository, tags page 1', path: '/r/gen/repo-0050' },
  { name: 'a tag page (2 platforms)', path: '/r/gen/repo-0050/-/v7' },
];

const work = await mkdtemp(join(tmpdir(), 'polyarch-web-pages-bench-'));
try {
  const results = new Map<string, number>();
  const servers: { repos: number; base: string; stop: () => void }[] = [];
  for (const repos of [SMALL, LARGE]) {
    process.stderr.write(`generating ${repos} repositories × ${TAGS} tags…\n`);
    const root = join(work, `root-${repos}`);
    await generateRegistry(root, repos);
    const served = await startServeProcess(root);
    servers.push({ repos, base: `http://${served.host}`, stop: () => void served.child.kill('SIGTERM') });
  }
  try {
    for (const server of servers) for (const page of pages) await getPage(`${server.base}${page.path}`); // builds the summaries it needs
    const times = new Map<string, number[]>();
    for (let round = 0; round < RUNS; round++) {
      for (const page of pages) {
        for (const server of servers) {
          const key = `${server.repos}|${page.name}`;
          times.set(key, [...(times.get(key) ?? []), await seconds(() => getPage(`${server.base}${page.path}`))]);
        }
      }
    }
    for (const [key, values] of times) results.set(key, median(values));
  } finally {
    for (const server of servers) server.stop();
  }
  console.log(`\nweb pages rendered by polyarch serve, ${SMALL} vs ${LARGE} repositories × ${TAGS} tags (seconds, medians of ${RUNS})\n`);
  printTable(
    ['page', `${SMALL} repositories`, `${LARGE} repositories`, 'ratio (large ÷ small)'],
    pages.map((p) => {
      const small = results.get(`${SMALL}|${p.name}`)!;
      const large = results.get(`${LARGE}|${p.name}`)!;
      return [p.name, small.toFixed(4), large.toFixed(4), `${(large / small).toFixed(2)}×`];
    }),
  );
  console.log('');
  for (const p of pages.slice(2)) targetLine(`${p.name}: cost on ${LARGE} repositories ÷ on ${SMALL}`, results.get(`${LARGE}|${p.name}`)! / results.get(`${SMALL}|${p.name}`)!, 1.5, { atMost: true });
  targetLine(`tag page on ${LARGE} repositories`, results.get(`${LARGE}|${pages[3]!.name}`)!, 0.1, { unit: ' s', atMost: true });
} finally {
  await rm(work, { recursive: true, force: true });
}
