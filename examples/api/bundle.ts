// Writes an offline release archive for linux/arm64 holding the demo image, with SHA256SUMS.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { bundle, parsePlatformList } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();

// #region example
const result = await bundle({
  images: [`${registry}/demo/busybox:multi`],
  platforms: parsePlatformList('linux/arm64'),
  output: join(dir, 'release-{os}-{arch}.tar'), // docker load reads it
  cacheDir: join(dir, 'bundle-cache'), // default: $XDG_CACHE_HOME/polyarch/bundle-blobs
});
const [archive] = result.archives;
assert.ok(archive);
assert.equal(archive.manifest.images[0]?.platform, 'linux/arm64');
console.log(`${archive.path}: ${archive.size} bytes, ${archive.sha256}`);
// #endregion example
