// What `copy --referrers` costs: an index of PLATFORMS images on polyarch serve, an SBOM on every
// image and a signature on the index, copied to distribution 2.8 (no referrers API, so the
// fallback tags are written too). Peers in the same run: the same copy without --referrers, and
// `skopeo copy --all` (which takes no referrers). A counting proxy in front of the source sees
// every request. `REFERRERS_BENCH_PLATFORMS=N` (default 4) sets the index size.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createEndpointOpener, MediaType, parseLocation, type Platform } from '../src/index.js';
import { startDistribution } from '../test/helpers/distribution.js';
import { startEmbedded } from '../test/helpers/embedded.js';
import { randomIndex } from '../test/helpers/images.js';
import { startProxy } from '../test/helpers/proxy.js';
import { OCI_MANIFEST, pushBlob, pushManifest, type Desc } from '../test/helpers/registry-push.js';
import { CLI_PATH as cli } from '../test/helpers/run-cli.js';
import { printTable, ratio, seconds } from './report.js';

const exec = promisify(execFile);
const ARCHES = ['amd64', 'arm64', 'ppc64le', 's390x', 'riscv64', '386', 'mips64le', 'loong64'];
const count = Math.min(ARCHES.length, Math.max(1, Number(process.env.REFERRERS_BENCH_PLATFORMS ?? 4)));
const platforms: Platform[] = ARCHES.slice(0, count).map((architecture) => ({ os: 'linux', architecture }));

const [source, target] = await Promise.all([startEmbedded(), startDistribution()]);
const proxy = await startProxy(source.host);
try {
  const opener = createEndpointOpener();
  const { endpoint } = await opener.open(parseLocation(`${source.host}/bench/app:1`), 'write');
  const made = await randomIndex(endpoint, platforms, { tag: '1', layers: 2, bytes: 512 * 1024, seed: 'referrers-bench' });
  await opener.close();
  const empty = await pushBlob(source.url, 'bench/app', '{}', MediaType.OciEmpty);
  const artifact = async (content: string, subject: Desc): Promise<void> => {
    const layer = await pushBlob(source.url, 'bench/app', content, 'application/vnd.example.data');
    await pushManifest(source.url, 'bench/app', undefined, { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.example.sbom', config: empty, layers: [layer], subject });
  };
  for (const image of made.images) await artifact(`sbom of ${image.manifest.digest}`, { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size });
  await artifact('signature of the index', { mediaType: made.index.mediaType, digest: made.index.digest, size: made.index.size });

  const measure = async (run: () => Promise<unknown>): Promise<{ seconds: number; requests: number }> => {
    proxy.seen.length = 0;
    const took = await seconds(run);
    return { seconds: took, requests: proxy.seen.length };
  };
  const src = `${proxy.host}/bench/app:1`;
  const withReferrers = await measure(() => exec(process.execPath, [cli, 'copy', '--referrers', src, `${target.host}/bench/with:1`]));
  const without = await measure(() => exec(process.execPath, [cli, 'copy', src, `${target.host}/bench/without:1`]));
  const skopeo = await measure(() => exec('skopeo', ['copy', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${src}`, `docker://${target.host}/bench/skopeo:1`]));

  console.log(`copy of a ${count}-platform index (2 × 512 KiB layers each) with ${count + 1} referrers, polyarch serve → distribution 2.8`);
  printTable(
    ['tool', 'seconds', 'requests to source', 'referrers copied', 'skopeo / this'],
    [
      ['polyarch copy --referrers', withReferrers.seconds.toFixed(2), String(withReferrers.requests), String(count + 1), ratio(skopeo.seconds, withReferrers.seconds)],
      ['polyarch copy', without.seconds.toFixed(2), String(without.requests), '0', ratio(skopeo.seconds, without.seconds)],
      ['skopeo copy --all', skopeo.seconds.toFixed(2), String(skopeo.requests), '0', ratio(skopeo.seconds, skopeo.seconds)],
    ],
  );
} finally {
  await proxy.stop();
  await Promise.all([source.stop(), target.stop()]);
}
