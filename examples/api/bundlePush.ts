// Pushes every image of a bundle archive into a registry under a new prefix, digests kept.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { bundle, bundlePush, parsePlatformList } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();
const made = await bundle({
  images: [`${registry}/demo/busybox:multi`],
  platforms: parsePlatformList('linux/amd64'),
  output: join(dir, 'release.tar'),
  cacheDir: join(dir, 'bundle-cache'),
});

// #region example
const { images } = await bundlePush({ archive: join(dir, 'release.tar'), to: `${registry}/mirror` });
assert.equal(images[0]?.target, `${registry}/mirror/busybox:multi`);
assert.equal(images[0]?.digest, made.archives[0]?.manifest.images[0]?.digest);
for (const image of images) console.log(`${image.image} -> ${image.target} (${image.digest})`);
// #endregion example
