// The examples/ directories, built as a user would: `polyarch build --push` for linux/amd64 and
// linux/arm64 into a real registry (CNCF distribution) whose bases are made here (Debian roots
// with gcc, static busybox), then `polyarch run` on every platform of the result. Each example
// says which machine it runs on, so a wrong-architecture image or a missing whiteout fails here.
import assert from 'node:assert/strict';
import { machine } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { extract } from 'tar-stream';
import { createEndpointOpener } from '../../src/endpoint/open-endpoint.js';
import type { Descriptor } from '../../src/image/descriptor.js';
import { parseImageIndex } from '../../src/image/index.js';
import { parseImageManifest } from '../../src/image/manifest.js';
import { parseLocation } from '../../src/reference/location.js';
import { storeBaseIndex } from '../helpers/base-images.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { copyBusyboxRoot } from '../helpers/busybox.js';
import { debianRootfsTar } from '../helpers/debian-rootfs.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const EXAMPLES = new URL('../../../examples/', import.meta.url).pathname;
const PLATFORMS = ['linux/amd64', 'linux/arm64'] as const;
/** What uname(2) says on each platform (arm64 through qemu-aarch64). */
const MACHINE: Record<(typeof PLATFORMS)[number], string> = { 'linux/amd64': 'x86_64', 'linux/arm64': 'aarch64' };
/** ELF e_machine of each platform's binaries (EM_X86_64, EM_AARCH64). */
const E_MACHINE: Record<(typeof PLATFORMS)[number], number> = { 'linux/amd64': 62, 'linux/arm64': 183 };

interface LayerEntry {
  readonly type: string;
  /** The first bytes of a file. */
  readonly head?: Buffer;
}

/** Every entry of a pushed gzip layer, name → type and a file's first 64 bytes, read as a stream. */
async function layerEntries(location: string, layer: Descriptor): Promise<Map<string, LayerEntry>> {
  const { endpoint } = await createEndpointOpener().open(parseLocation(location), 'read');
  const entries = new Map<string, LayerEntry>();
  const tar = extract();
  const reading = (async () => {
    for await (const entry of tar) {
      const chunks: Buffer[] = [];
      let kept = 0;
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        if (kept < 64) chunks.push(chunk.subarray(0, 64 - kept));
        kept += chunk.length;
      }
      entries.set(entry.header.name.replace(/\/$/, ''), { type: entry.header.type ?? 'file', ...(entry.header.type === 'file' ? { head: Buffer.concat(chunks) } : {}) });
    }
  })();
  await pipeline(await endpoint.openBlob(layer), createGunzip(), tar);
  await reading;
  return entries;
}

/** Rows of `polyarch run --all-platforms`: platform → [exit code, first line of output]. */
function tableRows(stdout: string): Map<string, { exit: string; output: string }> {
  const rows = new Map<string, { exit: string; output: string }>();
  for (const line of stdout.trim().split('\n').slice(1)) {
    const match = /^(\S+)\s+(\d+)\s+(.*)$/.exec(line);
    assert.ok(match, `a table row: ${JSON.stringify(line)}`);
    rows.set(match[1]!, { exit: match[2]!, output: match[3]!.trimEnd() });
  }
  return rows;
}

describe('examples', { timeout: 1_800_000 }, () => {
  let reg: DistributionHandle;
  let dir: { path: string; remove(): Promise<void> };
  let env: NodeJS.ProcessEnv;
  let debian = '';
  let busybox = '';

  before(async () => {
    await ensureEmulation(['amd64', 'arm64']);
    reg = await startDistribution();
    dir = await tempDir();
    env = { XDG_CACHE_HOME: join(dir.path, 'cache') };
    debian = `${reg.host}/debian:bookworm-gcc`;
    await storeBaseIndex(debian, [
      { platform: 'linux/amd64', tar: await debianRootfsTar('amd64') },
      { platform: 'linux/arm64', tar: await debianRootfsTar('arm64') },
    ]);
    busybox = `${reg.host}/busybox:multi`;
    await storeBaseIndex(busybox, [
      { platform: 'linux/amd64', dir: await copyBusyboxRoot('amd64', join(dir.path, 'busybox-amd64')) },
      { platform: 'linux/arm64', dir: await copyBusyboxRoot('arm64', join(dir.path, 'busybox-arm64')) },
    ]);
  });
  after(async () => {
    await reg?.stop();
    await dir?.remove();
  });

  /** `polyarch build --push` of examples/NAME for both platforms, its bases from the test registry. */
  async function buildExample(name: string, base: string): Promise<string> {
    const target = `${reg.host}/${name}:1`;
    const out = await runCli(['build', '--platform', PLATFORMS.join(','), '--build-arg', `BASE=${base}`, '-t', target, '--push', join(EXAMPLES, name)], { env });
    assert.equal(out.code, 0, out.stderr);
    return target;
  }

  /** The pushed image for `platform` in the index at `target`. */
  async function pushedImage(target: string, platform: string) {
    const { endpoint } = await createEndpointOpener().open(parseLocation(target), 'read');
    const index = parseImageIndex(await endpoint.getManifest('1'));
    const [os, architecture] = platform.split('/');
    const entry = index.manifests.find((m) => m.platform?.os === os && m.platform?.architecture === architecture);
    assert.ok(entry, `${target} has an image for ${platform}`);
    return parseImageManifest(await endpoint.getManifest(entry.digest));
  }

  async function runAll(target: string): Promise<Map<string, { exit: string; output: string }>> {
    const out = await runCli(['run', '--all-platforms', target], { env });
    assert.equal(out.code, 0, `${out.stdout}${out.stderr}`);
    const rows = tableRows(out.stdout);
    assert.deepEqual([...rows.keys()], [...PLATFORMS]);
    return rows;
  }

  test('c-builder: gcc runs on each platform (arm64 under qemu) and the static program reports its machine', async () => {
    const target = await buildExample('c-builder', debian);
    const rows = await runAll(target);
    for (const platform of PLATFORMS) {
      assert.deepEqual(rows.get(platform), { exit: '0', output: `hello from ${MACHINE[platform]}, compiled on ${MACHINE[platform]}` }, platform);
    }
    // One platform alone, its output passed through whole.
    const one = await runCli(['run', '--platform', 'linux/arm64', target], { env });
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, 'hello from aarch64, compiled on aarch64\n');
    // scratch plus the one binary: the builder stage's compiler stays behind.
    for (const platform of PLATFORMS) {
      const image = await pushedImage(target, platform);
      assert.equal(image.layers.length, 1, platform);
      const entries = await layerEntries(target, image.layers[0]!);
      assert.deepEqual([...entries.keys()], ['hello'], platform);
      assert.equal(entries.get('hello')!.head!.readUInt16LE(18), E_MACHINE[platform], `${platform}: e_machine`);
    }
  });

  test('cross-compile: the builder runs on the build machine only and writes each target’s binary', async () => {
    const target = await buildExample('cross-compile', debian);
    const built = machine();
    const rows = await runAll(target);
    for (const platform of PLATFORMS) {
      // "compiled on" is uname -m inside the builder's RUN: the build machine for every target.
      assert.deepEqual(rows.get(platform), { exit: '0', output: `hello from ${MACHINE[platform]}, compiled on ${built}` }, platform);
      const image = await pushedImage(target, platform);
      const entries = await layerEntries(target, image.layers[0]!);
      const head = entries.get('hello')?.head;
      assert.ok(head, `${platform}: /hello in the layer`);
      assert.deepEqual(head.subarray(0, 4), Buffer.from('\x7fELF', 'latin1'));
      assert.equal(head[4], 2, `${platform}: a 64-bit ELF`);
      assert.equal(head.readUInt16LE(18), E_MACHINE[platform], `${platform}: e_machine`);
    }
  });

  test('whiteouts: what later steps removed is gone on every platform, written as .wh. entries and an opaque directory', async () => {
    const target = await buildExample('whiteouts', busybox);
    const rows = await runAll(target);
    for (const platform of PLATFORMS) {
      assert.deepEqual(rows.get(platform), { exit: '0', output: `app 1.0 on ${MACHINE[platform]}, mode=production, plugins: core.plugin new.plugin` }, platform);
      const image = await pushedImage(target, platform);
      // base, COPY app/, the install RUN, the clean-up RUN.
      assert.equal(image.layers.length, 4, platform);
      const cleanup = await layerEntries(target, image.layers[3]!);
      const names = [...cleanup.keys()];
      for (const whiteout of ['bin/.wh.ip', 'bin/.wh.ifconfig', 'opt/app/.wh.build.log', 'opt/app/.wh.cache', 'opt/app/conf/.wh.debug.conf', 'opt/app/plugins/.wh..wh..opq']) {
        assert.ok(names.includes(whiteout), `${platform}: ${whiteout} in ${names.join(' ')}`);
      }
      // The replaced directory holds its new content; nothing below a removed directory is listed.
      assert.deepEqual(names.filter((n) => n.startsWith('opt/app/plugins/')).sort(), ['opt/app/plugins/.wh..wh..opq', 'opt/app/plugins/core.plugin', 'opt/app/plugins/new.plugin']);
      assert.deepEqual(names.filter((n) => n.startsWith('opt/app/cache/') || n.includes('plugins.new')), []);
    }
  });
});
