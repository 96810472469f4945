// Stage roots mounted with overlayfs (each layer unpacked once into the cache, a fresh upper
// directory per RUN step, the step's layer read from that upper) against stage roots copied into
// one directory: the same build makes the same layers both ways, steps run on the mount, and no
// mount outlives the build, whether it succeeds, a step fails or the CLI is stopped mid-step.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, writeFile, link } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { basename, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildImages, type BuildOptions } from '../../src/builder/build.js';
import { releaseBuildResult } from '../../src/builder/cache/build-cache.js';
import { isTempName } from '../../src/internal/temp-path.js';
import { mountsUnder } from '../../src/layer/overlay-mount.js';
import { UNPACKED_DIR } from '../../src/layer/unpacked-store.js';
import { pathsOfLayer } from '../../src/layer/scan.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { parseDigest } from '../../src/digest/digest.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { storeBaseIndex } from '../helpers/base-images.js';
import { buildSuite } from '../helpers/build-suite.js';
import { copyBusyboxRoot } from '../helpers/busybox.js';
import { CLI_PATH } from '../helpers/run-cli.js';

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;

describe('stage roots: overlay mounts and copies', { timeout: 600_000, skip: isRoot ? false : 'overlay mounts need root' }, () => {
  const suite = buildSuite();
  let base = '';

  // One amd64 layer: busybox, a base file, two hard links of one file, a file with a user
  // attribute, a directory with files, and a file whose mode a step changes.
  before(async () => {
    const root = await copyBusyboxRoot('amd64', join(suite.dir.path, 'base'));
    await writeFile(join(root, 'etc', 'base-file'), 'base\n');
    await mkdir(join(root, 'opt', 'dir'), { recursive: true });
    await writeFile(join(root, 'opt', 'dir', 'a'), 'a\n');
    await writeFile(join(root, 'opt', 'dir', 'b'), 'b\n');
    await writeFile(join(root, 'opt', 'h1'), 'h\n');
    await link(join(root, 'opt', 'h1'), join(root, 'opt', 'h2'));
    await writeFile(join(root, 'opt', 'noted'), 'noted\n');
    await exec('setfattr', ['-n', 'user.note', '-v', 'kept', join(root, 'opt', 'noted')]);
    await writeFile(join(root, 'opt', 'mode'), 'mode\n');
    await chmod(join(root, 'opt', 'mode'), 0o644);
    const tar = join(suite.dir.path, 'base.tar');
    await exec('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-cf', tar, '-C', root, '.']);
    base = `${suite.reg.host}/busybox:stage-roots`;
    await storeBaseIndex(base, [{ platform: 'linux/amd64', tar }]);
  });

  async function build(name: string, dockerfile: string, options: Partial<BuildOptions> = {}, files: Record<string, string> = {}) {
    const context = join(suite.dir.path, name);
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), dockerfile);
    for (const [path, content] of Object.entries(files)) await writeFile(join(context, path), content);
    const cacheDir = join(suite.dir.path, `${name}-cache`);
    const result = await buildImages({ context, platforms: [parsePlatform('linux/amd64')], buildPlatform: parsePlatform('linux/amd64'), cacheDir, ...options });
    const blob = async (digest: string) => JSON.parse(await readFile(join(result.layout, 'blobs', 'sha256', digest.slice('sha256:'.length)), 'utf8')) as Record<string, unknown>;
    const manifest = await blob(result.images[0]!.digest);
    const config = await blob((manifest.config as { digest: string }).digest);
    const layers = (manifest.layers as { digest: string }[]).map((l) => join(result.layout, 'blobs', 'sha256', l.digest.slice('sha256:'.length)));
    await releaseBuildResult({ result });
    return { cacheDir, diffIds: (config.rootfs as { diff_ids: string[] }).diff_ids, layers };
  }

  /** A file's text from the newest layer holding it. */
  async function fileText(layers: readonly string[], path: string): Promise<string | undefined> {
    for (const layer of [...layers].reverse()) {
      const out = await exec('tar', ['-xOzf', layer, path]).catch(() => undefined);
      if (out) return out.stdout;
    }
    return undefined;
  }

  test('a multi-step build makes the same layers on an overlay mount as in a copied root', async () => {
    const dockerfile = [
      `FROM ${base}`,
      'COPY f /opt/copied',
      // New files, a hard link, a deleted base file, a directory removed and made again, a mode
      // changed on a lower file, a lower file with an attribute touched, a pipe, and one name of a
      // hard-linked lower file written to (overlayfs copies up that name only).
      'RUN echo new > /opt/new && ln /opt/new /opt/new-link && rm /etc/base-file && rm -rf /opt/dir && mkdir /opt/dir && echo c > /opt/dir/c && chmod 600 /opt/mode && touch -d 2001-01-01 /opt/noted && mkfifo /opt/pipe && echo more >> /opt/h1',
      // The next step sees the other name written too, and deletes what a COPY layer made.
      'WORKDIR /work/here',
      'RUN cat /opt/h2 > /seen-h2 && rm /opt/copied && mkdir -p /var/made && echo x > /var/made/x',
      'RUN rm -rf /var/made && mkdir /var/made && echo again > /var/made/y',
      '',
    ].join('\n');
    const copied = await build('same-copy', dockerfile, { stageRoots: 'copy' }, { f: 'copied\n' });
    const mounted = await build('same-overlay', dockerfile, { stageRoots: 'overlay' }, { f: 'copied\n' });
    assert.equal(mounted.diffIds.length, 6, 'the base, COPY, RUN, WORKDIR (it makes /work/here) and two RUNs');
    assert.deepEqual(mounted.diffIds, copied.diffIds);
    assert.equal(await fileText(mounted.layers, 'seen-h2'), 'h\nmore\n', 'the other name of the hard link shows the write');
    assert.equal(await fileText(mounted.layers, 'var/made/y'), 'again\n');
    // Each layer was unpacked once into the cache, under its chain.
    const unpacked = await readdir(join(mounted.cacheDir, UNPACKED_DIR));
    assert.ok(unpacked.filter((n) => /^[0-9a-f]{32}$/.test(n)).length >= 6, unpacked.join(' '));
    assert.deepEqual(unpacked.filter(isTempName), []);
  });

  test('unpacking a layer keeps its path list, the same a scan of the layer gives, so no COPY reads the layer again', async () => {
    for (const stageRoots of ['overlay', 'copy'] as const) {
      // No COPY: nothing but the unpacking reads the base.
      const out = await build(`paths-${stageRoots}`, `FROM ${base}\nRUN true\n`, { stageRoots });
      const blob = out.layers[0]!;
      const kept = join(out.cacheDir, 'polyarch-dir-cache', `sha256-${basename(blob)}.paths-v2`);
      const scanned = await pathsOfLayer(createReadStream(blob), { mediaType: MediaType.OciLayer, digest: parseDigest(`sha256:${basename(blob)}`) });
      assert.ok(scanned.some(([name, entry]) => name === 'opt/dir' && entry.type === 'directory'), stageRoots);
      assert.deepEqual(JSON.parse(await readFile(kept, 'utf8')), JSON.parse(JSON.stringify(scanned)), stageRoots);
    }
  });

  test('a step sees its root as a volatile overlay mount (unmounting it syncs nothing), and no mount is left after a build or a failing step', async () => {
    const out = await build('mountinfo', `FROM ${base}\nRUN cat /proc/self/mountinfo > /mountinfo\n`, { stageRoots: 'auto' });
    const rootLine = (await fileText(out.layers, 'mountinfo'))!.split('\n').find((line) => line.split(' ')[4] === '/');
    assert.match(rootLine ?? '', / - overlay /, rootLine);
    assert.match(rootLine ?? '', /[ ,](fsync=)?volatile(,|$)/, rootLine); // `fsync=volatile` on Linux 6.x
    assert.deepEqual(await mountsUnder(out.cacheDir), []);

    const copied = await build('mountinfo-copy', `FROM ${base}\nRUN cat /proc/self/mountinfo > /mountinfo\n`, { stageRoots: 'copy' });
    const copiedLine = (await fileText(copied.layers, 'mountinfo'))!.split('\n').find((line) => line.split(' ')[4] === '/');
    assert.doesNotMatch(copiedLine ?? '', / - overlay /);

    const cacheDir = join(suite.dir.path, 'failing-cache');
    await assert.rejects(build('failing', `FROM ${base}\nCOPY f /f\nRUN echo x > /x && exit 3\n`, { cacheDir }, { f: 'f\n' }), (error: Error & { code?: string }) => error.code === 'STEP_FAILED');
    assert.deepEqual(await mountsUnder(cacheDir), []);
    assert.deepEqual((await readdir(join(cacheDir, UNPACKED_DIR))).filter(isTempName), [], 'the step\'s directories are gone');
  });

  // `timeout` and supervisors signal the process and then its whole group: the CLI may get the
  // same SIGTERM twice at once (here a third time 50 ms on), and must still unwind, not exit outright.
  const stops = {
    'SIGTERM to the CLI': (child: ChildProcess) => child.kill('SIGTERM'),
    'SIGTERM to the CLI and its process group, as timeout sends it': async (child: ChildProcess) => {
      child.kill('SIGTERM');
      process.kill(-child.pid!, 'SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 50));
      child.kill('SIGTERM');
    },
  };
  for (const [how, stop] of Object.entries(stops)) {
    test(`${how} mid-step unmounts the stage root`, async () => {
      const name = how.includes('group') ? 'sigterm-group' : 'sigterm';
      const context = join(suite.dir.path, name);
      await mkdir(context, { recursive: true });
      await writeFile(join(context, 'Dockerfile'), `FROM ${base}\nRUN echo "step-""started" && sleep 600\n`);
      const cache = join(suite.dir.path, `${name}-home`);
      const child = spawn(process.execPath, [CLI_PATH, 'build', '--platform', 'linux/amd64', '-o', `type=local,dest=${join(suite.dir.path, `${name}-out`)}`, context], {
        env: { ...process.env, XDG_CACHE_HOME: cache },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // a process group of its own, as under timeout
      });
      let stderr = '';
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      // The step has started (its line is printed) once its root is mounted.
      await new Promise<void>((resolve, reject) => {
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          if (stderr.includes('step-started')) resolve();
        });
        child.on('close', () => reject(new Error(`the build ended before its step started: ${stderr}`)));
      });
      assert.ok((await mountsUnder(cache)).length > 0, 'the step runs on a mount below the cache');
      await stop(child);
      assert.equal(await exited, 143, stderr);
      assert.deepEqual(await mountsUnder(cache), []);
      assert.match(stderr, /^polyarch: terminated \[INTERRUPTED\]$/m);
    });
  }
});
