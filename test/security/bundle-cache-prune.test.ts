// `prune --bundle-cache`: the bundle blob cache is pruned like the build cache (least recently
// bundled first under --keep-storage, everything with --all), never while a bundle run holds its
// lease, and never through what is planted in it: a symlink to a file outside, a directory, a FIFO.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { openBundleCache, pruneBundleCache } from '../../src/endpoint/bundle-cache.js';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { bundle } from '../../src/ops/bundle.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { baseLayers, pushSharedBaseImages, type BundleTestImage } from '../helpers/bundle-images.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);

interface PruneJson {
  removed: { type: string; name: string }[];
  bytesKept: number;
  bundleCache?: { cacheDir: string; removed: { type: string; name: string; size?: number }[]; bytesFreed: number; bytesKept: number };
}

describe('prune --bundle-cache', () => {
  let registry: DistributionHandle;
  let dir: { path: string; remove: () => Promise<void> };
  let images: BundleTestImage[];

  before(async () => {
    dir = await tempDir('polyarch-bundle-prune-');
    registry = await startDistribution();
    const bases = await baseLayers(['linux/amd64'], { bytes: 8192, workDir: dir.path });
    images = await pushSharedBaseImages(registry.host, ['prune/old', 'prune/new'], bases, { ownBytes: 16384 });
  });
  after(async () => {
    await registry?.stop();
    await dir?.remove();
  });

  /** A fresh XDG_CACHE_HOME whose bundle cache holds both images, the older bundled first. */
  async function filledCache(name: string): Promise<{ env: NodeJS.ProcessEnv; cache: string }> {
    const home = join(dir.path, name);
    const cache = join(home, 'polyarch', 'bundle-blobs');
    for (const image of images) {
      await bundle({ images: [image.reference], platforms: [parsePlatform('linux/amd64')], output: join(home, 'out', `${images.indexOf(image)}.tar`), cacheDir: cache });
      await new Promise((resolve) => setTimeout(resolve, 50)); // distinct use times
    }
    return { env: { XDG_CACHE_HOME: home }, cache };
  }

  const blobNames = async (cache: string) => (await readdir(join(cache, 'blobs', 'sha256'))).sort();

  test('--keep-storage drops the least recently bundled image first; --all empties the cache and the next bundle fetches again', async () => {
    const { env, cache } = await filledCache('keep');
    const plain = await runCli(['prune', '--json'], { env });
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal((JSON.parse(plain.stdout) as PruneJson).bundleCache, undefined, 'without --bundle-cache the bundle cache is not looked at');

    const looked = await runCli(['prune', '--bundle-cache', '--json'], { env });
    assert.equal(looked.code, 0, looked.stderr);
    const total = (JSON.parse(looked.stdout) as PruneJson).bundleCache!;
    assert.deepEqual(total.removed, [], 'every blob is reached by an entry');
    const before = await blobNames(cache);

    const kept = await runCli(['prune', '--bundle-cache', '--keep-storage', String(total.bytesKept - 1), '--json'], { env });
    assert.equal(kept.code, 0, kept.stderr);
    const report = (JSON.parse(kept.stdout) as PruneJson).bundleCache!;
    assert.deepEqual(report.removed.filter((r) => r.type === 'image').map((r) => r.name), [images[0]!.reference]);
    const removedBlobs = report.removed.filter((r) => r.type === 'blob').map((r) => r.name.slice('sha256:'.length));
    assert.ok(removedBlobs.length >= 3, 'the old image\'s index, manifest, config and own layer');
    assert.deepEqual(await blobNames(cache), before.filter((b) => !removedBlobs.includes(b)));
    assert.ok(report.bytesKept <= total.bytesKept - 1 && report.bytesKept > 0);
    const index = JSON.parse(await readFile(join(cache, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
    assert.equal(index.manifests.length, 1);

    // The newer image is still whole: bundling it again fetches nothing.
    const again = await bundle({ images: [images[1]!.reference], platforms: [parsePlatform('linux/amd64')], output: join(dir.path, 'keep', 'again.tar'), cacheDir: cache });
    assert.equal(again.blobsFetched, 0);

    const all = await runCli(['prune', '--all'], { env });
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^bundle cache: removed 1 cache entries and \d+ blobs; freed /m);
    assert.deepEqual(await blobNames(cache), []);
    const refetched = await bundle({ images: [images[1]!.reference], platforms: [parsePlatform('linux/amd64')], output: join(dir.path, 'keep', 'refetched.tar'), cacheDir: cache });
    assert.ok(refetched.blobsFetched >= 3);
  });

  test('a prune waits for a bundle run holding the cache and removes nothing while it runs', async () => {
    const { cache } = await filledCache('lease');
    const before = await blobNames(cache);
    const running = await openBundleCache(cache);
    try {
      await assert.rejects(
        pruneBundleCache({ cacheDir: cache, all: true, waitMs: 0 }),
        (e: unknown) => isPolyarchError(e) && e.code === 'BUSY' && new RegExp(`in use by 1 bundle run\\(s\\) \\(pid ${process.pid}\\)`).test(e.message),
      );
      assert.deepEqual(await blobNames(cache), before);
    } finally {
      await running.release();
    }
    const pruned = await pruneBundleCache({ cacheDir: cache, all: true, waitMs: 0 });
    assert.equal(pruned.bytesKept, 0);
    assert.deepEqual(await blobNames(cache), []);
  });

  test('a symlink, a directory and a FIFO planted in the cache: nothing outside is touched, no directory is removed, nothing hangs', async () => {
    const { env, cache } = await filledCache('planted');
    const outside = join(dir.path, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'precious.txt'), 'keep me\n');
    const blobs = join(cache, 'blobs', 'sha256');
    const fake = (n: number) => String(n).repeat(64);
    await symlink(join(outside, 'precious.txt'), join(blobs, fake(1)));
    await symlink(outside, join(blobs, fake(2)));
    await mkdir(join(blobs, fake(3)));
    await writeFile(join(blobs, fake(3), 'inside'), 'x');
    await exec('mkfifo', [join(blobs, fake(4))]);
    // The leases folder itself replaced by a link out of the cache: no lease is read or removed there.
    await writeFile(join(outside, '1'), 'not a lease\n');
    await rm(join(cache, 'polyarch-leases'), { recursive: true, force: true });
    await symlink(outside, join(cache, 'polyarch-leases'), 'dir');

    const pruned = await runCli(['prune', '--all', '--json'], { env });
    assert.equal(pruned.code, 0, pruned.stderr);
    const report = (JSON.parse(pruned.stdout) as PruneJson).bundleCache!;
    assert.equal(report.bytesKept, 0);
    assert.equal(await readFile(join(outside, 'precious.txt'), 'utf8'), 'keep me\n');
    assert.equal(await readFile(join(outside, '1'), 'utf8'), 'not a lease\n');
    assert.deepEqual((await readdir(outside)).sort(), ['1', 'precious.txt']);
    assert.deepEqual(await readdir(blobs), [fake(3)], 'links and the FIFO unlinked themselves; the directory left alone');
    assert.deepEqual(await readdir(join(blobs, fake(3))), ['inside']);
    assert.ok((await lstat(join(outside, 'precious.txt'))).isFile());
  });
});
