// Attacks on `bundle` and `bundle push`: output names that climb, hostile archives handed to
// bundle push (paths outside, absolute paths, blobs whose bytes do not match), a registry whose
// manifests carry hostile digests (the cache must not be written outside itself), and image list
// files that are huge or junk. Each ends in one line and leaves nothing behind.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { digestOfBytes } from '../../src/digest/digest.js';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { bundle } from '../../src/ops/bundle.js';
import { outputPaths } from '../../src/ops/bundle-output.js';
import { inspect } from '../../src/ops/inspect.js';
import { parsePlatform, type Platform } from '../../src/platform/platform.js';
import { baseLayers, pushSharedBaseImages, type BundleTestImage } from '../helpers/bundle-images.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { runCli } from '../helpers/run-cli.js';
import { packToBuffer, tarMembers } from '../helpers/tar.js';
import { tempDir } from '../helpers/temp-dir.js';


async function repack(members: readonly { name: string; bytes: Buffer }[], file: string): Promise<void> {
  await writeFile(
    file,
    await packToBuffer((tar) => {
      for (const m of members) tar.entry({ name: m.name, size: m.bytes.length, mtime: new Date(0) }, m.bytes);
    }),
  );
}

async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => !e.isDirectory()).map((e) => join(e.parentPath, e.name));
}

describe('bundle output names', () => {
  test('no platform value can climb out of the pattern or add a directory', () => {
    const hostile: Platform[] = [
      { os: 'linux', architecture: 'arm64', variant: '../x' },
      { os: 'linux', architecture: '..' },
      { os: 'a/b', architecture: 'amd64' },
      { os: 'linux', architecture: '.hidden' },
      { os: 'linux', architecture: 'arm\nfake  line' },
    ];
    for (const platform of hostile) {
      assert.throws(() => outputPaths('/out/release-{os}-{arch}{variant}.tar', [platform]), (e: unknown) => isPolyarchError(e) && e.code === 'INVALID_PLATFORM', JSON.stringify(platform));
    }
    assert.deepEqual(outputPaths('/out/r-{arch}{variant}.tar', [parsePlatform('linux/arm/v7'), parsePlatform('linux/arm64')]), ['/out/r-armv7.tar', '/out/r-arm64.tar']);
  });

  test('--platform linux/.. is refused before anything is read or written', async () => {
    const dir = await tempDir();
    try {
      const run = await runCli(['bundle', '--platform', 'linux/..', '-o', join(dir.path, 'out', '{arch}', 'r.tar'), '--cache-dir', join(dir.path, 'cache'), '127.0.0.1:1/app:1']);
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.deepEqual(await readdir(dir.path), []);
    } finally {
      await dir.remove();
    }
  });
});

describe('bundle push of hostile archives', () => {
  let source: DistributionHandle;
  let target: DistributionHandle;
  let dir: { path: string; remove: () => Promise<void> };
  let images: BundleTestImage[];
  let good: string;

  before(async () => {
    dir = await tempDir();
    [source, target] = await Promise.all([startDistribution(), startDistribution()]);
    images = await pushSharedBaseImages(source.host, ['a/one', 'b/two', 'c/three'], await baseLayers(['linux/arm64'], { bytes: 64 * 1024, workDir: dir.path }));
    good = join(dir.path, 'good.tar');
    await bundle({ images: images.map((i) => i.reference), platforms: [parsePlatform('linux/arm64')], output: good, cacheDir: join(dir.path, 'cache') });
  });
  after(async () => {
    await Promise.allSettled([source?.stop(), target?.stop()]);
    await dir?.remove();
  });

  /** Pushes `file` under a fresh prefix and checks it failed in one line and no image is in the target. */
  async function refused(file: string, prefix: string, pattern: RegExp): Promise<void> {
    // Progress lines are left out (--progress quiet): what is checked is the error, one line.
    const run = await runCli(['bundle', 'push', file, '--to', `${target.host}/${prefix}`, '--progress', 'quiet']);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.match(run.stderr, pattern);
    for (const name of ['one', 'two', 'three']) await assert.rejects(inspect({ location: `${target.host}/${prefix}/${name}:1` }), `${prefix}/${name} was not pushed`);
  }

  test('manifest.json naming paths outside the archive (../, absolute), with the OCI part gone', async () => {
    const members = await tarMembers(good);
    for (const [i, outside] of ['../../etc/passwd', '/etc/passwd'].entries()) {
      const saved = JSON.parse((members.find((m) => m.name === 'manifest.json')?.bytes as Buffer).toString()) as { Layers: string[] }[];
      (saved[2] as { Layers: string[] }).Layers[1] = outside;
      const hostile = members.filter((m) => m.name !== 'index.json').map((m) => (m.name === 'manifest.json' ? { name: m.name, bytes: Buffer.from(JSON.stringify(saved)) } : m));
      const file = join(dir.path, `outside-${i}.tar`);
      await repack(hostile, file);
      await refused(file, `outside${i}`, /\[LAYOUT_INVALID\]/);
    }
  });

  test('a layer whose bytes do not match its digest: nothing is tagged, not even the images before it', async () => {
    const members = await tarMembers(good);
    // The third image's own layer: the first two images' blobs are all good and go first.
    const own = JSON.parse(images[2]?.images.get('linux/arm64')?.manifest.bytes.toString() as string) as { layers: { digest: string }[] };
    const name = `blobs/sha256/${own.layers[1]?.digest.slice(7)}`;
    const hostile = members.map((m) => (m.name === name ? { name, bytes: Buffer.from(m.bytes.map((b, i) => (i === 100 ? b ^ 0xff : b))) } : m));
    const file = join(dir.path, 'flipped.tar');
    await repack(hostile, file);
    await refused(file, 'flipped', /DIGEST_MISMATCH/);
  });

  test('a bundle manifest that disagrees with the archive', async () => {
    const members = await tarMembers(good);
    const manifest = JSON.parse((members.find((m) => m.name === 'polyarch-bundle.json')?.bytes as Buffer).toString()) as { images: { digest: string }[] };
    (manifest.images[1] as { digest: string }).digest = `sha256:${'0'.repeat(64)}`;
    const file = join(dir.path, 'disagrees.tar');
    await repack(members.map((m) => (m.name === 'polyarch-bundle.json' ? { name: m.name, bytes: Buffer.from(JSON.stringify(manifest)) } : m)), file);
    await refused(file, 'disagrees', /polyarch-bundle\.json says sha256:0+ \[LAYOUT_INVALID\]/);
  });

  test('verify reads a hostile bundle to a coded line and exit 1, writing nothing (the archives the tests above made)', async () => {
    const cases: [string, RegExp][] = [
      ['outside-0.tar', /\[LAYOUT_INVALID\]\n$/],
      ['outside-1.tar', /\[LAYOUT_INVALID\]\n$/],
      ['flipped.tar', /\[DIGEST_MISMATCH\]\n$/],
      ['disagrees.tar', /sha256:0{64}.*\[[A-Z_]+\]\n$/],
    ];
    const before = (await readdir(dir.path)).sort();
    for (const [name, pattern] of cases) {
      const run = await runCli(['verify', join(dir.path, name)]);
      assert.equal(run.code, 1, `${name}: ${run.stderr}`);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.match(run.stderr, pattern, name);
    }
    assert.deepEqual((await readdir(dir.path)).sort(), before, 'verify wrote nothing beside the archives');
  });
});

describe('bundle from a registry serving hostile digests', () => {
  let server: Server;
  let host: string;
  let dir: { path: string; remove: () => Promise<void> };

  before(async () => {
    dir = await tempDir();
    const escape = `sha256:../../../../${'a'.repeat(40)}`;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: escape, size: 2 },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: escape, size: 2 }],
      }),
    );
    const manifestDigest = digestOfBytes(manifest);
    const index = (entryDigest: string): Buffer =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: entryDigest, size: manifest.length, platform: { os: 'linux', architecture: 'arm64' } }],
        }),
      );
    const answers = new Map<string, Buffer>([
      ['/v2/evil/manifests/1', index(manifestDigest)],
      ['/v2/evil/manifests/2', index(escape)],
      [`/v2/evil/manifests/${manifestDigest}`, manifest],
    ]);
    server = createServer((req, res) => {
      const body = answers.get(req.url ?? '');
      if (req.url === '/v2/') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      if (!body) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}');
        return;
      }
      const type = (JSON.parse(body.toString()) as { mediaType: string }).mediaType;
      res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'docker-content-digest': digestOfBytes(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await dir?.remove();
  });

  test('a config, a layer or an index entry named ../… is refused in one line; nothing lands outside the cache, and no archive is made', async () => {
    for (const tag of ['1', '2']) {
      const work = join(dir.path, `run-${tag}`);
      await mkdir(work);
      const run = await runCli(['bundle', '--platform', 'linux/arm64', '-o', join(work, 'out', 'r.tar'), '--cache-dir', join(work, 'cache'), `${host}/evil:${tag}`]);
      assert.equal(run.code, 1, run.stderr);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.match(run.stderr, /digest/i);
      for (const file of await allFiles(work)) assert.ok(file.startsWith(join(work, 'cache', '')), `${file} is inside the cache`);
    }
    assert.deepEqual((await readdir(dir.path)).sort(), ['run-1', 'run-2']);
  });
});

describe('bundle --images with hostile list files', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => {
    dir = await tempDir();
  });
  after(() => dir.remove());

  for (const [title, content, pattern] of [
    ['100k lines', Buffer.from('a:1\n'.repeat(100_000)), /more than the 10000 images a bundle may hold \[CONFIG_INVALID\]/],
    ['a file of many megabytes', Buffer.alloc(8 * 1024 * 1024, 'a'), /a list of names is at most \d+ \[CONFIG_INVALID\]/],
    ['binary junk', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)), /not a text file of image names \[CONFIG_INVALID\]/],
    ['a line that is no image name', Buffer.from('# modules\n127.0.0.1:1/app:1\n\nNot An Image!\n'), /line 4: .*\[INVALID_REFERENCE\]/],
  ] as const) {
    test(title, async () => {
      const list = join(dir.path, `${title.replaceAll(' ', '-')}.txt`);
      await writeFile(list, content);
      const run = await runCli(['bundle', '--platform', 'linux/arm64', '-o', join(dir.path, 'out.tar'), '--cache-dir', join(dir.path, 'cache'), '--images', list]);
      assert.equal(run.code, 2, run.stderr);
      const lines = run.stderr.trim().split('\n').filter((l) => !l.startsWith('hint: '));
      assert.equal(lines.length, 1, run.stderr);
      assert.match(run.stderr, pattern);
      assert.ok(!(await readdir(dir.path)).includes('out.tar'));
    });
  }
});
