// AbortSignal on every ops verb: one with an already-aborted signal starts nothing and rejects
// with a PolyarchError INTERRUPTED, leaving what it would have changed as it was; a few verbs are
// aborted mid-transfer, while a proxy holds a layer's bytes back, and must stop (the stall lasts
// longer than the test may run) with the same error and no half-written archive.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  assembleIndex,
  bundle,
  bundlePush,
  collectServerGarbage,
  copy,
  copyImage,
  deleteImage,
  describeRegistrySettings,
  explainMatch,
  findReferrers,
  inspect,
  inspectBundle,
  inspectImage,
  isPolyarchError,
  listCatalog,
  listTags,
  login,
  logout,
  manifestAnnotate,
  manifestCreate,
  manifestInspect,
  manifestPush,
  manifestRemove,
  parseLocation,
  parsePlatform,
  PolyarchError,
  verify,
  verifyImage,
  withOpener,
  type EndpointOpener,
} from '../../src/index.js';
import { createRegistryClient } from '../../src/registry/client.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { randomIndex, type GeneratedIndex } from '../helpers/images.js';
import { isBlobGet, startProxy, type ProxyHandle } from '../helpers/proxy.js';
import { tempDir } from '../helpers/temp-dir.js';

const AMD64 = parsePlatform('linux/amd64');
const ARM64 = parsePlatform('linux/arm64');
/** Layers above this are held back by the proxy after their first bytes (configs pass). */
const STALL_ABOVE = 100_000;

let registry: EmbeddedHandle;
let proxy: ProxyHandle;
let work: Awaited<ReturnType<typeof tempDir>>;
let made: GeneratedIndex;
let configDir: string;
let archive: string;
let app: string;
let list: string;

/** Resolves once the proxy has sent the first bytes of a layer and stalled. */
let stalled: () => void = () => undefined;

before(async () => {
  registry = await startEmbedded();
  work = await tempDir('polyarch-abort-');
  const client = createRegistryClient(registry.host);
  made = await randomIndex(client.repository('app') as never, [AMD64, ARM64], { tag: 'v1', layers: 1, bytes: 1_000_000, seed: 'abort' });
  await client.close();
  app = `${registry.host}/app`;
  await copy({ source: `${app}@${made.images[0]!.descriptor.digest}`, destination: `${app}:amd64` });
  configDir = join(work.path, 'docker-config');
  list = `${registry.host}/lists/app:1`;
  await manifestCreate({ list, images: [`${app}:amd64`], registryConfigDir: configDir });
  await login({ registry: registry.host, username: 'ci', password: 'secret', registryConfigDir: configDir });
  archive = join(work.path, 'release.tar');
  await bundle({ images: [`${app}:v1`], platforms: [AMD64], output: archive, cacheDir: join(work.path, 'cache') });

  proxy = await startProxy(registry.host, {
    respond(req: IncomingMessage, up: IncomingMessage, res: ServerResponse) {
      if (!isBlobGet(req) || up.statusCode !== 200 || !(Number(up.headers['content-length']) > STALL_ABOVE)) return false;
      res.writeHead(200, up.headers);
      up.once('data', (chunk: Buffer) => {
        up.destroy();
        res.write(chunk.subarray(0, 1000), () => stalled()); // and nothing more: the client must give up by itself
      });
      return true;
    },
  });
});

after(async () => {
  await proxy?.stop();
  await registry?.stop();
  await work?.remove();
});

function aborted(): AbortSignal {
  const controller = new AbortController();
  controller.abort();
  return controller.signal;
}

const interrupted = (error: unknown): boolean => isPolyarchError(error) && error.code === 'INTERRUPTED';

async function storedList(): Promise<string> {
  return JSON.stringify(await manifestInspect({ image: list, verbose: true, registryConfigDir: configDir }));
}

async function tagsOf(repository: string): Promise<string[]> {
  return listTags({ location: repository }).catch((error: unknown) => {
    if (isPolyarchError(error) && (error.code === 'NAME_UNKNOWN' || error.code === 'NOT_FOUND')) return [];
    throw error;
  });
}

async function withEndpoint<T>(location: string, fn: (opener: EndpointOpener, endpoint: Awaited<ReturnType<EndpointOpener['open']>>['endpoint']) => Promise<T>): Promise<T> {
  return withOpener({}, async (opener) => fn(opener, (await opener.open(parseLocation(location), 'read')).endpoint));
}

interface Case {
  readonly verb: string;
  /** Calls the verb with `signal`. */
  readonly call: (signal: AbortSignal) => Promise<unknown>;
  /** What must be as it was after the aborted call (a snapshot taken before, compared after). */
  readonly state?: () => Promise<unknown>;
}

const CASES: readonly Case[] = [
  { verb: 'copy', call: (signal) => copy({ source: `${app}:v1`, destination: `oci-archive:${join(work.path, 'copy.tar')}:v1`, signal }), state: async () => existsSync(join(work.path, 'copy.tar')) },
  {
    verb: 'copyImage',
    call: (signal) =>
      withOpener({}, async (opener) => {
        const source = (await opener.open(parseLocation(`${app}:v1`), 'read')).endpoint;
        const destination = (await opener.open(parseLocation(`${registry.host}/copied`), 'write')).endpoint;
        return copyImage({ source, sourceReference: 'v1', destination, destinationReference: 'v1', signal });
      }),
    state: () => tagsOf(`${registry.host}/copied`),
  },
  { verb: 'inspect', call: (signal) => inspect({ location: `${app}:v1`, signal }) },
  { verb: 'inspectImage', call: (signal) => withEndpoint(`${app}:v1`, (_o, endpoint) => inspectImage({ endpoint, reference: 'v1', signal })) },
  { verb: 'verify', call: (signal) => verify({ location: `${app}:v1`, signal }) },
  { verb: 'verifyImage', call: (signal) => withEndpoint(`${app}:v1`, (_o, endpoint) => verifyImage({ endpoint, reference: 'v1', signal })) },
  { verb: 'listTags', call: (signal) => listTags({ location: app, signal }) },
  { verb: 'listCatalog', call: (signal) => listCatalog({ registry: registry.host, signal }) },
  { verb: 'deleteImage', call: (signal) => deleteImage({ location: `${app}:amd64`, signal }), state: () => tagsOf(app) },
  {
    verb: 'login',
    call: (signal) => login({ registry: registry.host, username: 'ci', password: 'secret', registryConfigDir: join(work.path, 'fresh-config'), signal }),
    state: async () => existsSync(join(work.path, 'fresh-config')),
  },
  { verb: 'logout', call: (signal) => logout({ registry: registry.host, registryConfigDir: configDir, signal }), state: () => readFile(join(configDir, 'config.json'), 'utf8') },
  {
    verb: 'assembleIndex',
    call: (signal) => assembleIndex({ sources: [`${app}:amd64`], targets: [`${registry.host}/assembled:1`], signal }),
    state: () => tagsOf(`${registry.host}/assembled`),
  },
  {
    verb: 'manifestCreate',
    call: (signal) => manifestCreate({ list: `${registry.host}/lists/other:1`, images: [`${app}:amd64`], registryConfigDir: configDir, signal }),
    state: () => readdir(join(configDir, 'manifests')),
  },
  { verb: 'manifestAnnotate', call: (signal) => manifestAnnotate({ list, image: `${app}:amd64`, variant: 'v3', registryConfigDir: configDir, signal }), state: storedList },
  { verb: 'manifestInspect', call: (signal) => manifestInspect({ image: list, registryConfigDir: configDir, signal }) },
  { verb: 'manifestPush', call: (signal) => manifestPush({ list, purge: true, registryConfigDir: configDir, signal }), state: async () => [await storedList(), await tagsOf(`${registry.host}/lists/app`)] },
  { verb: 'manifestRemove', call: (signal) => manifestRemove({ lists: [list], registryConfigDir: configDir, signal }), state: storedList },
  {
    verb: 'bundle',
    call: (signal) => bundle({ images: [`${app}:v1`], platforms: [ARM64], output: join(work.path, 'other.tar'), cacheDir: join(work.path, 'cache'), signal }),
    state: async () => existsSync(join(work.path, 'other.tar')),
  },
  { verb: 'bundlePush', call: (signal) => bundlePush({ archive, to: `${registry.host}/mirror`, signal }), state: () => tagsOf(`${registry.host}/mirror/app`) },
  { verb: 'inspectBundle', call: (signal) => inspectBundle({ location: archive, signal }) },
  { verb: 'explainMatch', call: (signal) => explainMatch({ location: `${app}:v1`, host: ARM64, signal }) },
  {
    verb: 'findReferrers',
    call: (signal) => withEndpoint(`${app}:v1`, async (_o, source) => findReferrers({ source, subjects: [await source.getManifest('v1')], signal })),
  },
  { verb: 'collectServerGarbage', call: (signal) => collectServerGarbage({ root: registry.root, gracePeriodMs: 0, signal }), state: () => readdir(join(registry.root, 'blobs', 'sha256')) },
  { verb: 'describeRegistrySettings', call: (signal) => describeRegistrySettings({ registry: registry.host, signal }) },
];

for (const { verb, call, state } of CASES) {
  test(`${verb} with an aborted signal rejects with INTERRUPTED and changes nothing`, async () => {
    const was = await state?.();
    await assert.rejects(call(aborted()), interrupted);
    assert.deepEqual(await state?.(), was);
  });
}

test('the signal’s reason is the error when it already is an INTERRUPTED PolyarchError (the CLI’s SIGTERM)', async () => {
  const controller = new AbortController();
  const reason = new PolyarchError('INTERRUPTED', 'terminated');
  controller.abort(reason);
  await assert.rejects(copy({ source: `${app}:v1`, destination: `oci:${join(work.path, 'reason')}:v1`, signal: controller.signal }), (error) => error === reason);
  await assert.rejects(listTags({ location: app, signal: controller.signal }), (error) => error === reason);
});

/** Runs `start` through the stalling proxy and aborts once a layer's first bytes have arrived. */
async function abortMidTransfer(start: (signal: AbortSignal) => Promise<unknown>): Promise<void> {
  const controller = new AbortController();
  const arrived = new Promise<void>((resolve) => (stalled = resolve));
  const running = start(controller.signal);
  running.catch(() => undefined); // settled below; a rejection before the stall still fails the test there
  await Promise.race([arrived, running]);
  controller.abort();
  await assert.rejects(running, interrupted);
}

test('copy aborted mid-layer stops, and leaves no archive, half-written or temporary', { timeout: 30_000 }, async () => {
  const dir = join(work.path, 'mid-copy');
  await mkdir(dir);
  await abortMidTransfer((signal) => copy({ source: `${proxy.host}/app:v1`, destination: `oci-archive:${join(dir, 'app.tar')}:v1`, signal }));
  assert.deepEqual(await readdir(dir), []);
});

test('bundle aborted mid-layer writes no archive and no checksums', { timeout: 30_000 }, async () => {
  const dir = join(work.path, 'mid-bundle');
  await mkdir(dir);
  await abortMidTransfer((signal) => bundle({ images: [`${proxy.host}/app:v1`], platforms: [ARM64], output: join(dir, 'release-{arch}.tar'), cacheDir: join(work.path, 'mid-cache'), signal }));
  assert.deepEqual(await readdir(dir), []);
});

test('verify aborted while it reads a layer stops with INTERRUPTED', { timeout: 30_000 }, async () => {
  await abortMidTransfer((signal) => verify({ location: `${proxy.host}/app:v1`, signal }));
});
