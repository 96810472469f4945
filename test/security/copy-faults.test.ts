// Fault injection: `copy` of a multi-platform index from a real registry through a proxy that
// drops, stalls, truncates and corrupts responses and answers 500/429, on many seeds. Each run
// either completes with every digest verified by an independent read of the destination, or
// fails with one coded line and leaves the destination as it was.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { copy } from '../../src/ops/copy.js';
import { createRegistryClient } from '../../src/registry/client.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { FAULT_KINDS, startFaultProxy, type FaultKind, type FaultProxy } from '../helpers/fault-proxy.js';
import { randomImage, randomIndex, THREE_PLATFORMS, type GeneratedIndex } from '../helpers/images.js';
import { tempDir } from '../helpers/temp-dir.js';

const SEEDS = Array.from({ length: 8 }, (_, i) => 1000 + i);
const RATE = 0.3;
const TIMEOUT_MS = 300;
const STALL_MS = 600;

let source: DistributionHandle;
let target: DistributionHandle;
let proxy: FaultProxy;
let made: GeneratedIndex;
let dir: { path: string; remove: () => Promise<void> };
let base: string;
let baseFiles: string[];
let baseIndex: Buffer;
/** Every digest the copied tree holds, with its media type. */
let expected: Map<string, string>;

const perKind = (): Record<FaultKind, number> => Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
const totals = { injected: perKind(), survived: perKind(), completed: 0, failedCleanly: 0, failures: new Map<string, number>() };

before(async () => {
  [source, target] = await Promise.all([startDistribution(), startDistribution()]);
  const client = createRegistryClient(source.host);
  // 3 platforms × 2 layers of ~350 KB: a little over 2 MB in 9 blobs and 4 manifests.
  made = await randomIndex(client.repository('app') as never, THREE_PLATFORMS, { tag: 'v1', layers: 2, bytes: 350_000, seed: 'faults' });
  await client.close();
  expected = new Map([[made.index.digest, made.index.mediaType]]);
  for (const image of made.images) {
    expected.set(image.manifest.digest, image.manifest.mediaType);
    expected.set(image.config.digest, image.config.mediaType);
    for (const layer of image.layers) expected.set(layer.descriptor.digest, layer.descriptor.mediaType);
  }
  proxy = await startFaultProxy(source.host);
  dir = await tempDir('polyarch-faults-');
  // The destination layout already holds another image: a failed copy must leave it as it was.
  base = join(dir.path, 'base');
  await randomImage(await openLayout(base, { create: true }), { platform: { os: 'linux', architecture: 'amd64' }, bytes: 1000, seed: 'old', tag: 'old' });
  baseFiles = await filesOf(base);
  baseIndex = await readFile(join(base, 'index.json'));
});

after(async () => {
  await proxy?.stop();
  await Promise.all([source?.stop(), target?.stop()]);
  await dir?.remove();
});

async function filesOf(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(root.length + 1))
    .filter((f) => f !== 'index.json.lock')
    .sort();
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Runs one copy under the current schedule; returns the error, or undefined when it completed. */
async function faultyCopy(to: string): Promise<Error | undefined> {
  try {
    const result = await copy({ source: `${proxy.host}/app:v1`, destination: to, retries: 3, timeoutMs: TIMEOUT_MS });
    assert.equal(result.descriptor.digest, made.index.digest);
    return undefined;
  } catch (error) {
    assert.ok(isPolyarchError(error), `not a coded error: ${(error as Error)?.stack ?? String(error)}`);
    assert.ok(!error.message.includes('\n'), `more than one line: ${error.message}`);
    return error;
  }
}

function tally(error: Error | undefined): void {
  if (error === undefined) {
    totals.completed++;
    return;
  }
  totals.failedCleanly++;
  const code = (error as unknown as { code: string }).code;
  totals.failures.set(code, (totals.failures.get(code) ?? 0) + 1);
}

/** Adds this run's faults; those of a run that completed anyway were survived. */
function addInjected(error: Error | undefined): void {
  for (const kind of FAULT_KINDS) {
    totals.injected[kind] += proxy.injected[kind];
    if (error === undefined) totals.survived[kind] += proxy.injected[kind];
  }
}

test('copy through a faulty network: every run completes verified or fails cleanly', { timeout: 120_000 }, async (t) => {
  for (const seed of SEEDS) {
    // (a) into an OCI layout that already holds another image.
    proxy.schedule({ seed, rate: RATE, stallMs: STALL_MS });
    const layout = join(dir.path, `run-${seed}`);
    await cp(base, layout, { recursive: true });
    const layoutError = await faultyCopy(`oci:${layout}:v1`);
    addInjected(layoutError);
    tally(layoutError);
    const files = await filesOf(layout);
    if (layoutError === undefined) {
      const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
      assert.equal(index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'v1')?.digest, made.index.digest);
      for (const digest of expected.keys()) {
        assert.equal(sha256(await readFile(join(layout, 'blobs', 'sha256', digest.slice(7)))), digest, `seed ${seed}: blob ${digest} on disk`);
      }
      const extra = files.filter((f) => !baseFiles.includes(f) && !expected.has(`sha256:${f.slice('blobs/sha256/'.length)}`));
      assert.deepEqual(extra, [], `seed ${seed}: files left besides the blobs`);
    } else {
      assert.deepEqual(files, baseFiles, `seed ${seed}: the failed copy (${layoutError.message}) left files behind`);
      assert.deepEqual(await readFile(join(layout, 'index.json')), baseIndex, `seed ${seed}: index.json changed`);
    }

    // (b) into another real registry.
    proxy.schedule({ seed: seed + 500_000, rate: RATE, stallMs: STALL_MS });
    const repository = `run-${seed}`;
    const registryError = await faultyCopy(`${target.host}/${repository}:v1`);
    addInjected(registryError);
    tally(registryError);
    if (registryError === undefined) {
      for (const [digest, mediaType] of expected) {
        const kind = /manifest|index/.test(mediaType) && !mediaType.includes('config') ? 'manifests' : 'blobs';
        const response = await fetch(`${target.url}/v2/${repository}/${kind}/${digest}`, { headers: { accept: mediaType } });
        assert.equal(response.status, 200, `seed ${seed}: ${kind} ${digest}`);
        assert.equal(sha256(Buffer.from(await response.arrayBuffer())), digest, `seed ${seed}: ${kind} ${digest} in the registry`);
      }
      const tag = await fetch(`${target.url}/v2/${repository}/manifests/v1`, { method: 'HEAD', headers: { accept: made.index.mediaType } });
      assert.equal(tag.headers.get('docker-content-digest'), made.index.digest);
    } else {
      const tag = await fetch(`${target.url}/v2/${repository}/manifests/v1`, { method: 'HEAD', headers: { accept: made.index.mediaType } });
      assert.equal(tag.status, 404, `seed ${seed}: the failed copy (${registryError.message}) left the tag`);
    }
  }
  const injectedTotal = FAULT_KINDS.reduce((n, k) => n + totals.injected[k], 0);
  const summary = [
    `fault injection: ${SEEDS.length * 2} copies (${SEEDS.length} to a layout, ${SEEDS.length} to a registry), ${injectedTotal} faults injected`,
    `  injected by kind: ${FAULT_KINDS.map((k) => `${k}=${totals.injected[k]}`).join(' ')}`,
    `  survived (in runs that completed): ${FAULT_KINDS.map((k) => `${k}=${totals.survived[k]}`).join(' ')}`,
    `  completed and verified: ${totals.completed}; failed cleanly: ${totals.failedCleanly}${totals.failures.size > 0 ? ` (${[...totals.failures].map(([c, n]) => `${c}=${n}`).join(' ')})` : ''}`,
  ].join('\n');
  t.diagnostic(summary);
  console.log(summary);
  assert.ok(injectedTotal > SEEDS.length, 'the schedule injected faults');
  assert.ok(totals.completed > 0, 'some runs survive their faults');
});
