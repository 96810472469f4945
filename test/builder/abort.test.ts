// AbortSignal on the build, run, emulation, cache and server verbs: one already aborted stops each
// verb before it does anything, with INTERRUPTED; a build aborted in the middle of a RUN step leaves
// no output, no result tag in its cache and no process; an aborted server stops listening.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import {
  PolyarchError,
  buildImages,
  createRegistryServer,
  detectEmulation,
  exportBuild,
  installEmulation,
  parsePlatform,
  pruneBuildCache,
  releaseBuildResult,
  requireEmulation,
  runImage,
  uninstallEmulation,
  type BuildResult,
} from '../../src/index.js';
import { buildSuite } from '../helpers/build-suite.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { storeBusyboxIndex } from '../helpers/busybox-index.js';

const AMD64 = parsePlatform('linux/amd64');
const ARM64 = parsePlatform('linux/arm64');

function interrupted(error: unknown): boolean {
  assert.ok(error instanceof PolyarchError, `not a PolyarchError: ${String(error)}`);
  assert.equal(error.code, 'INTERRUPTED', error.message);
  return true;
}

/** Pids of processes whose command line holds `marker` (steps run in their own pid namespace, but /proc shows them all). */
async function processesWith(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(join('/proc', name, 'cmdline'), 'utf8').catch(() => '');
    if (cmdline.includes(marker) && Number(name) !== process.pid) pids.push(Number(name));
  }
  return pids;
}

/** The result tags (`build-PID-TIME`) a build cache holds. */
async function resultTags(cacheDir: string): Promise<string[]> {
  if (!existsSync(join(cacheDir, 'index.json'))) return [];
  const index = JSON.parse(await readFile(join(cacheDir, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
  return index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? '').filter((t) => t.startsWith('build-'));
}

describe('aborting the build, run, emulation, cache and server verbs', { timeout: 600_000 }, () => {
  const suite = buildSuite();
  let base = '';
  let context = '';

  before(async () => {
    await ensureEmulation(['amd64', 'arm64']);
    base = `${suite.reg.host}/busybox:multi`;
    await storeBusyboxIndex(base, ['amd64', 'arm64'], suite.dir.path);
    context = join(suite.dir.path, 'context');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
    await writeFile(join(context, 'hello.txt'), 'hello\n');
  });

  test('a signal already aborted stops every verb with INTERRUPTED, before it writes anything', async () => {
    const signal = AbortSignal.abort();
    const dir = suite.dir.path;
    const built: BuildResult = await buildImages({ context, platforms: [AMD64], buildPlatform: AMD64, cacheDir: join(dir, 'kept-cache') });
    const verbs: [string, () => Promise<unknown>, string?][] = [
      ['buildImages', () => buildImages({ context, platforms: [AMD64], buildPlatform: AMD64, cacheDir: join(dir, 'aborted-cache'), outputs: [{ type: 'oci', dest: join(dir, 'aborted.tar') }], signal }), join(dir, 'aborted-cache')],
      ['runImage', () => runImage({ location: base, command: ['true'], signal })],
      ['detectEmulation', () => detectEmulation({ signal })],
      ['requireEmulation', () => requireEmulation({ platforms: [ARM64], signal })],
      ['installEmulation', () => installEmulation({ platforms: [ARM64], signal })],
      ['uninstallEmulation', () => uninstallEmulation({ platforms: [ARM64], signal })],
      ['pruneBuildCache', () => pruneBuildCache({ cacheDir: join(dir, 'kept-cache'), all: true, signal })],
      ['releaseBuildResult', () => releaseBuildResult({ result: built, signal })],
      ['createRegistryServer', () => createRegistryServer({ root: join(dir, 'aborted-registry'), signal }), join(dir, 'aborted-registry')],
      // Last: an export drops the result's tag whatever happens, and the aborted release and prune above must not have.
      ['exportBuild', () => exportBuild({ result: built, outputs: [{ type: 'local', dest: join(dir, 'aborted-rootfs') }], signal }), join(dir, 'aborted-rootfs')],
    ];
    for (const [name, run, untouched] of verbs) {
      if (name === 'exportBuild') assert.deepEqual(await resultTags(join(dir, 'kept-cache')), [built.tag], 'the aborted release and prune left the result alone');
      await assert.rejects(run(), interrupted, name);
      if (untouched) assert.equal(existsSync(untouched), false, `${name} created ${untouched}`);
    }
    assert.equal(existsSync(join(dir, 'aborted.tar')), false, 'no output of the aborted build');
  });

  test('a build aborted during a RUN step stops the step and leaves no output, result tag or process', async () => {
    const marker = `${process.pid}${Date.now() % 100_000}`;
    const ctx = join(suite.dir.path, 'slow');
    await mkdir(ctx, { recursive: true });
    // The step's sleep carries a number no other process has, to find it (or its absence) in /proc.
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN echo started && sleep ${marker}\n`);
    const cacheDir = join(suite.dir.path, 'slow-cache');
    const dest = join(suite.dir.path, 'slow.tar');
    const controller = new AbortController();
    let sawStep = false;
    const building = buildImages({
      context: ctx,
      platforms: [AMD64, ARM64],
      buildPlatform: AMD64,
      cacheDir,
      outputs: [{ type: 'oci', dest }],
      onProgress: (event) => {
        if (event.kind !== 'output' || event.line !== 'started') return;
        sawStep = true;
        controller.abort(); // the first platform's step is running its sleep now
      },
      signal: controller.signal,
    });
    await assert.rejects(building, interrupted);
    assert.ok(sawStep, 'the abort came while a step ran');
    assert.deepEqual(await processesWith(`sleep ${marker}`), [], 'no step process is left running');
    assert.equal(existsSync(dest), false, 'no output was written');
    assert.deepEqual(await resultTags(cacheDir), [], 'no result is tagged in the cache');
  });

  test('aborting the signal closes the registry server', async () => {
    const controller = new AbortController();
    const server = await createRegistryServer({ root: join(suite.dir.path, 'served'), signal: controller.signal });
    const { url } = await server.listen(0);
    assert.equal((await fetch(`${url}/v2/`)).status, 200);
    controller.abort();
    await server.close(); // resolves once closed, however often it is called
    await assert.rejects(fetch(`${url}/v2/`), 'nothing listens after the abort');
    await assert.rejects(server.listen(0), interrupted, 'an aborted server does not listen again');
  });
});
