// A base image's bottom layer is unpacked while it is pulled: the bytes go to the cache and to the
// unpacking at once, so the unpacking reads them before their digest is checked. Forged bytes (a
// registry or a network that changes a layer) must leave nothing: no unpacked layer, no path list
// kept under the layer's digest, no file of theirs anywhere in the cache, and no RUN ever sees
// them. A transfer that is forged once and right on its retry unpacks the right bytes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, readdir, stat, writeFile, mkdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildImages } from '../../src/builder/build.js';
import { releaseBuildResult } from '../../src/builder/cache/build-cache.js';
import { digestOfBytes } from '../../src/digest/digest.js';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { isTempName } from '../../src/internal/temp-path.js';
import { UNPACKED_DIR, UnpackedLayers } from '../../src/layer/unpacked-store.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { storeBaseIndex } from '../helpers/base-images.js';
import { copyBusyboxRoot } from '../helpers/busybox.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { startProxy, type ProxyHandle } from '../helpers/proxy.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const GENUINE = 'genuine base file, as its digest says';
const FORGED = 'forged! base file, under the same size';

/** Every file below `dir` whose bytes hold `text`. */
async function filesHolding(dir: string, text: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if ((await stat(path)).size < 64 << 20 && (await readFile(path)).includes(text)) found.push(path);
  }
  return found;
}

describe('a base layer unpacked while it is pulled', { timeout: 300_000, skip: isRoot ? false : 'overlay mounts need root' }, () => {
  let registry: EmbeddedHandle;
  let proxy: ProxyHandle;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let layerPath = '';
  /** GETs of the base layer still to forge. */
  let forgeNext = 0;
  /** The base layer's bytes go slowly (a piece every 30 ms), so a build can be stopped mid-pull. */
  let slow = false;

  before(async () => {
    registry = await startEmbedded();
    work = await tempDir();
    const root = await copyBusyboxRoot('amd64', join(work.path, 'root'));
    await writeFile(join(root, 'etc', 'motd'), `${GENUINE}\n`);
    const tar = join(work.path, 'base.tar');
    await exec('tar', ['--numeric-owner', '-cf', tar, '-C', root, '.']);
    layerPath = `/blobs/${digestOfBytes(await readFile(tar))}`;
    await storeBaseIndex(`${registry.host}/base:1`, [{ platform: 'linux/amd64', tar }]);
    // The layer's bytes with one file's text changed, same length: a valid tar under the wrong digest.
    proxy = await startProxy(registry.host, {
      respond(req: IncomingMessage, up: IncomingMessage, res: ServerResponse) {
        if (req.method !== 'GET' || !req.url?.endsWith(layerPath) || up.statusCode !== 200) return false;
        if (slow) {
          res.writeHead(200, up.headers);
          up.on('data', (chunk: Buffer) => {
            up.pause();
            res.write(chunk);
            setTimeout(() => up.resume(), 30);
          });
          up.on('end', () => res.end());
          return true;
        }
        if (forgeNext === 0) return false;
        forgeNext--;
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const body = Buffer.concat(chunks);
          const at = body.indexOf(GENUINE);
          if (at >= 0) body.write(FORGED, at);
          res.writeHead(200, up.headers);
          res.end(body);
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

  async function build(name: string, signal?: AbortSignal) {
    const context = join(work.path, name);
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), `FROM ${proxy.host}/base:1\nRUN cat /etc/motd > /seen\n`);
    const cacheDir = join(work.path, `${name}-cache`);
    const built = buildImages({ context, platforms: [parsePlatform('linux/amd64')], buildPlatform: parsePlatform('linux/amd64'), cacheDir, stageRoots: 'overlay', ...(signal ? { signal } : {}) });
    return { cacheDir, built };
  }

  /** The unpacked layers' directories in the cache, and anything a build left half-made there. */
  async function unpacked(cacheDir: string): Promise<{ layers: string[]; temps: string[] }> {
    const names = await readdir(join(cacheDir, UNPACKED_DIR)).catch(() => [] as string[]);
    return { layers: names.filter((n) => /^[0-9a-f]{32}$/.test(n)), temps: names.filter(isTempName) };
  }

  test('forged bytes fail the pull and leave no unpacked layer, path list or file of theirs', async () => {
    forgeNext = Infinity;
    const { cacheDir, built } = await build('forged');
    await assert.rejects(built, (error: unknown) => isPolyarchError(error) && error.code === 'DIGEST_MISMATCH');
    assert.deepEqual(await unpacked(cacheDir), { layers: [], temps: [] });
    const kept = await readdir(join(cacheDir, 'polyarch-dir-cache')).catch(() => [] as string[]);
    assert.deepEqual(kept, [], 'no path list was kept for the forged bytes');
    assert.deepEqual(await filesHolding(cacheDir, FORGED), []);
  });

  test('a transfer forged once and right on its retry unpacks the right bytes, and the RUN reads them', async (t) => {
    forgeNext = 1;
    const taps = t.mock.method(UnpackedLayers.prototype, 'unpackWhileCopied');
    const { cacheDir, built } = await build('retried');
    const result = await built;
    try {
      assert.equal(forgeNext, 0, 'the first transfer was forged');
      assert.ok(taps.mock.calls.some((call) => call.result !== undefined), 'the pull fed the unpacking');
      const { layers, temps } = await unpacked(cacheDir);
      assert.deepEqual(temps, []);
      assert.ok(layers.length >= 2, `the base and the RUN step's layer: ${layers.join(' ')}`);
      const motd = await Promise.all(layers.map((l) => readFile(join(cacheDir, UNPACKED_DIR, l, 'fs', 'etc', 'motd'), 'utf8').catch(() => undefined)));
      assert.deepEqual(motd.filter((t) => t !== undefined), [`${GENUINE}\n`]);
      const seen = await Promise.all(layers.map((l) => readFile(join(cacheDir, UNPACKED_DIR, l, 'fs', 'seen'), 'utf8').catch(() => undefined)));
      assert.deepEqual(seen.filter((t) => t !== undefined), [`${GENUINE}\n`]);
      assert.deepEqual(await filesHolding(cacheDir, FORGED), []);
    } finally {
      await releaseBuildResult({ result });
    }
  });

  test('a build stopped mid-pull has removed its half-unpacked layer by the time it settles', async () => {
    slow = true;
    try {
      const stop = new AbortController();
      const { cacheDir, built } = await build('stopped', stop.signal);
      setTimeout(() => stop.abort(), 300);
      await assert.rejects(built, (error: unknown) => isPolyarchError(error) && error.code === 'INTERRUPTED');
      // At once, not some time later: nothing of the build is still running.
      assert.deepEqual(await unpacked(cacheDir), { layers: [], temps: [] });
    } finally {
      slow = false;
    }
  });
});
