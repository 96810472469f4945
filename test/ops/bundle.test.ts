// `bundle` end to end: three busybox-based images (sharing their base layer) as multi-arch indexes
// in one distribution registry, bundled per platform; the archives read by skopeo, checked against
// docker load's rules, inspected, verified with sha256sum and pushed into a second registry.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { bundle } from '../../src/ops/bundle.js';
import { inspect } from '../../src/ops/inspect.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { baseLayers, pushSharedBaseImages, type BundleTestImage } from '../helpers/bundle-images.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import type { GeneratedLayer } from '../helpers/images.js';
import { runCli } from '../helpers/run-cli.js';
import { tarMembers } from '../helpers/tar.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);
const NAMES = ['team/app1', 'team/app2', 'tools/app3'];
/** Tar headers, padding and the metadata files: far less than one busybox layer. */
const SLACK = 64 * 1024;


describe('bundle', () => {
  let source: DistributionHandle;
  let target: DistributionHandle;
  let dir: { path: string; remove: () => Promise<void> };
  let images: BundleTestImage[];
  let bases: Map<string, GeneratedLayer>;
  let cacheDir: string;

  before(async () => {
    dir = await tempDir('polyarch-bundle-');
    cacheDir = join(dir.path, 'cache');
    [source, target] = await Promise.all([startDistribution(), startDistribution()]);
    bases = await baseLayers(['linux/amd64', 'linux/arm64'], { busybox: true, workDir: dir.path });
    images = await pushSharedBaseImages(source.host, NAMES, bases);
  });
  after(async () => {
    await Promise.allSettled([source?.stop(), target?.stop()]);
    await dir?.remove();
  });

  test('three images for linux/arm64: skopeo and docker load read each by its tag, the base layer is stored once, bundle push restores the digests', async () => {
    const out = join(dir.path, 'docker-out');
    const result = await bundle({ images: images.map((i) => i.reference), platforms: [parsePlatform('linux/arm64')], output: join(out, 'release-{arch}.tar'), cacheDir });
    const file = join(out, 'release-arm64.tar');
    assert.deepEqual(result.archives.map((a) => a.path), [file]);
    assert.equal(result.blobsFetched, 1 + 3 * 2, 'the base layer once, then each image its own layer and config');

    // docker load's rules: manifest.json lists every image with RepoTags, and every path it names is in the tar.
    const members = new Map((await tarMembers(file)).map((m) => [m.name, m.bytes]));
    const saved = JSON.parse((members.get('manifest.json') as Buffer).toString()) as { Config: string; RepoTags: string[]; Layers: string[] }[];
    assert.deepEqual(saved.map((s) => s.RepoTags), images.map((i) => [i.reference]));
    for (const item of saved) for (const path of [item.Config, ...item.Layers]) assert.ok(members.has(path), `${path} is in the archive`);
    assert.ok(members.has('polyarch-bundle.json') && members.has('index.json') && members.has('oci-layout'));
    const verified = await runCli(['-q', 'verify', `docker-archive:${file}`]);
    assert.equal(verified.code, 0, `verify reads every image of a docker-format bundle: ${verified.stderr}`);

    // Each shared layer once: the archive is smaller than the three images by about one base layer.
    const base = bases.get('linux/arm64') as GeneratedLayer;
    const sum = images.reduce((n, i) => n + (i.images.get('linux/arm64')?.contentSize ?? 0), 0);
    const { size } = await stat(file);
    assert.ok(size < sum - base.descriptor.size + SLACK, `archive ${size} bytes, three images ${sum}, base layer ${base.descriptor.size}`);
    assert.ok(size > sum - 2 * base.descriptor.size, 'the base layer is there once');

    for (const image of images) {
      const { stdout } = await exec('skopeo', ['inspect', `docker-archive:${file}:${image.reference}`]);
      assert.equal((JSON.parse(stdout) as { Architecture: string }).Architecture, 'arm64');
      await exec('skopeo', ['copy', '--quiet', `docker-archive:${file}:${image.reference}`, `oci:${join(dir.path, 'skopeo-out')}:${image.reference.split('/').at(-1)?.replace(':', '-')}`]);
    }

    const sums = await readFile(join(out, 'SHA256SUMS'), 'utf8');
    assert.match(sums, /^[a-f0-9]{64} {2}release-arm64\.tar\n$/);
    await exec('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out });

    const shown = await runCli(['inspect', file]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /Platform: +linux\/arm64/);
    for (const image of images) assert.match(shown.stdout, new RegExp(`${image.reference.replaceAll('.', '\\.')} +linux/arm64 +${image.images.get('linux/arm64')?.manifest.digest}`));

    const asArchive = await runCli(['--json', 'inspect', `docker-archive:${file}`]);
    assert.equal(asArchive.code, 0, asArchive.stderr);
    const listed = JSON.parse(asArchive.stdout) as { platform: string; images: { image: string; digest: string }[] };
    assert.equal(listed.platform, 'linux/arm64');
    assert.deepEqual(listed.images.map((e) => [e.image, e.digest]), images.map((i) => [i.reference, i.images.get('linux/arm64')?.manifest.digest]));

    // A copy of one image out of the bundle, as from any archive.
    const copied = await runCli(['copy', `docker-archive:${file}:${images[1]?.reference}`, `oci:${join(dir.path, 'one')}:x`]);
    assert.equal(copied.code, 0, copied.stderr);

    const pushed = await runCli(['bundle', 'push', file, '--to', `${target.host}/mirror`, '--progress', 'plain']);
    assert.equal(pushed.code, 0, pushed.stderr);
    // Progress as elsewhere: one plain line per blob pushed, on stderr.
    assert.match(pushed.stderr, /^push sha256:[0-9a-f]{12}\b.* done /m);
    for (const image of images) {
      const name = image.reference.split('/').at(-1) as string;
      const restored = await inspect({ location: `${target.host}/mirror/${name}` });
      assert.equal(restored.descriptor.digest, image.images.get('linux/arm64')?.manifest.digest, name);
    }
  });

  test('--format oci for two platforms: one archive per platform from one pattern, each read by skopeo by its name', async () => {
    const out = join(dir.path, 'oci-out');
    // A platform written as uname says it is bundled by its OCI name, and said so, as build says it.
    const run = await runCli(['bundle', '--platform', 'x86_64,linux/arm64', '--format', 'oci', '-o', join(out, '{os}-{arch}.tar'), '--cache-dir', cacheDir, ...images.map((i) => i.reference)]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^notice: platform x86_64 is linux\/amd64$/m);
    assert.deepEqual((await readdir(out)).sort(), ['SHA256SUMS', 'linux-amd64.tar', 'linux-arm64.tar']);
    await exec('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out });
    for (const [arch, platform] of [['amd64', 'linux/amd64'], ['arm64', 'linux/arm64']] as const) {
      for (const image of images) {
        const { stdout } = await exec('skopeo', ['inspect', '--raw', `oci-archive:${join(out, `linux-${arch}.tar`)}:${image.reference}`]);
        assert.equal(stdout, image.images.get(platform)?.manifest.bytes.toString());
      }
    }
    // verify reads a bundle whole: every image it lists, each checked against the archive's platform.
    const verified = await runCli(['--json', 'verify', join(out, 'linux-arm64.tar')]);
    assert.equal(verified.code, 0, verified.stderr);
    const report = JSON.parse(verified.stdout) as { passed: boolean; images: { image: string; report: { passed: boolean; images: { platform: string }[] } }[] };
    assert.equal(report.passed, true);
    assert.deepEqual(report.images.map((i) => i.image), images.map((i) => i.reference));
    assert.ok(report.images.every((i) => i.report.passed && i.report.images[0]?.platform === 'linux/arm64'));
    const text = await runCli(['verify', join(out, 'linux-amd64.tar')]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout.split('\n').filter((l) => l.startsWith('passed: 0 error(s)')).length, images.length, text.stdout);
  });

  test('an image without the platform stops the bundle before anything is written, naming what it has', async () => {
    const out = join(dir.path, 'missing');
    const run = await runCli(['bundle', '--platform', 'linux/s390x', '-o', join(out, 'r.tar'), '--cache-dir', cacheDir, ...images.map((i) => i.reference)]);
    assert.equal(run.code, 1);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`${images[0]?.reference.replaceAll('.', '\\.')} has no image for platform linux/s390x \\(it has linux/amd64, linux/arm64\\)`));
    await assert.rejects(stat(out), { code: 'ENOENT' });
  });

  test('several platforms and an output name without placeholders is a usage error; bundle push of a missing archive is NOT_FOUND, of a bad --to prefix USAGE naming it', async () => {
    const run = await runCli(['bundle', '--platform', 'linux/amd64,linux/arm64', '-o', join(dir.path, 'same.tar'), '--cache-dir', cacheDir, images[0]?.reference as string]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /has no \{os\}, \{arch\} or \{variant\}.*\[USAGE\]/);
    // Names that cannot be written are said at once, before anything is fetched (the registry here is not even reachable).
    await writeFile(join(dir.path, 'a-file'), '');
    for (const [output, said] of [
      ['release-{arhc}.tar', /\{arhc\} is no placeholder \(there are \{os\}, \{arch\} and \{variant\}\) \[USAGE\]/],
      [join('a-file', 'deeper', 'r-{arch}.tar'), /a-file is not a directory \[USAGE\]/],
      [dir.path, /is a directory; an archive is written as one file.*\[USAGE\]/],
    ] as const) {
      const bad = await runCli(['bundle', '--platform', 'linux/amd64', '-o', output, '--cache-dir', cacheDir, '127.0.0.1:1/app:1'], { cwd: dir.path });
      assert.equal(bad.code, 2, bad.stderr);
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
      assert.match(bad.stderr, said);
    }
    // bundle push of an archive that is not there says so (not "is not an archive file").
    const missing = await runCli(['bundle', 'push', join(dir.path, 'not-there.tar'), '--to', `${target.host}/mirror`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^polyarch: bundle push: ".*not-there\.tar": no such file \[NOT_FOUND\]\n$/);
    // A bad --to prefix is named as given, not as the repository it was checked as.
    const upper = await runCli(['bundle', 'push', join(dir.path, 'not-there.tar'), '--to', `${target.host}/Mirror`]);
    assert.equal(upper.code, 2);
    assert.match(upper.stderr, /--to ".*\/Mirror" is not REGISTRY\[\/PREFIX\]: invalid reference ".*\/Mirror": repository name must be lowercase \[USAGE\]\n$/);
  });

  test('an interrupted run leaves no archive and no temp file; the next run fetches only what was missing', async () => {
    const interruptedCache = join(dir.path, 'interrupted-cache');
    const out = join(dir.path, 'interrupted');
    const controller = new AbortController();
    const options = { images: images.map((i) => i.reference), platforms: [parsePlatform('linux/amd64')], output: join(out, 'r.tar'), cacheDir: interruptedCache, concurrency: 1 };
    await assert.rejects(
      bundle({
        ...options,
        signal: controller.signal,
        onBlob: (event) => {
          if (event.action === 'copied') controller.abort();
        },
      }),
    );
    await assert.rejects(stat(out), { code: 'ENOENT' });
    const cached = (await readdir(join(interruptedCache, 'blobs', 'sha256'))).filter((n) => !n.startsWith('.'));
    assert.ok(cached.length >= 1, 'the blob that arrived whole is kept');
    assert.deepEqual((await readdir(join(interruptedCache, 'blobs', 'sha256'))).filter((n) => n.startsWith('.')), [], 'no temp file is left');
    const again = await bundle(options);
    assert.equal(again.blobsReused, cached.length);
    assert.equal(again.blobsFetched, 7 - cached.length, '7 blobs in all: the base, then each image its own layer and config');
  });

  test('blobs this run fetched go into the archive unhashed; a cached blob changed on disk since is caught by the next run', async () => {
    const ownCache = join(dir.path, 'tamper-cache');
    const reference = images[0]?.reference as string;
    const options = { images: [reference], platforms: [parsePlatform('linux/amd64')], cacheDir: ownCache };
    const first = await bundle({ ...options, output: join(dir.path, 'tamper-first', 'r.tar') });
    assert.equal(first.blobsFetched, 3);
    // The largest cached blob is a layer: one byte of it changes, its size stays.
    const blobDir = join(ownCache, 'blobs', 'sha256');
    const sizes = await Promise.all((await readdir(blobDir)).map(async (name) => ({ path: join(blobDir, name), size: (await stat(join(blobDir, name))).size })));
    const layer = sizes.sort((a, b) => b.size - a.size)[0]!.path;
    const bytes = await readFile(layer);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
    await writeFile(layer, bytes);
    const failure = await bundle({ ...options, output: join(dir.path, 'tamper-again', 'r.tar') }).then(() => undefined, (e: unknown) => e);
    assert.ok(isPolyarchError(failure) && failure.code === 'DIGEST_MISMATCH', String(failure));
    assert.deepEqual(await readdir(join(dir.path, 'tamper-again')).catch(() => []), [], 'no archive, no checksum file');
  });

  test('a rerun after the source registry is gone is served from the cache, fetching nothing', async () => {
    const own = await startDistribution();
    const ownCache = join(dir.path, 'own-cache');
    try {
      const [image] = await pushSharedBaseImages(own.host, ['solo/app'], bases);
      const first = await bundle({ images: [image?.reference as string], platforms: [parsePlatform('linux/amd64')], output: join(dir.path, 'first', 'r.tar'), cacheDir: ownCache });
      assert.equal(first.blobsFetched, 3);
      await own.stop();
      const notices: string[] = [];
      const again = await bundle({
        images: [image?.reference as string],
        platforms: [parsePlatform('linux/amd64')],
        output: join(dir.path, 'again', 'r.tar'),
        cacheDir: ownCache,
        retries: 0,
        onNotice: (m) => notices.push(m),
      });
      assert.equal(again.blobsFetched, 0);
      assert.equal(again.blobsReused, 3);
      assert.equal(notices.length, 1);
      assert.match(notices[0] as string, /source unreachable/);
      assert.equal(again.archives[0]?.sha256, first.archives[0]?.sha256, 'the same archive, byte for byte');
    } finally {
      await own.stop().catch(() => undefined);
    }
  });
});
