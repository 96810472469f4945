// Reads what a bundle archive holds, from its bundle manifest.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { bundle, inspectBundle, parsePlatformList } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();
await bundle({
  images: [`${registry}/demo/busybox:multi`],
  platforms: parsePlatformList('linux/amd64'),
  output: join(dir, 'release.tar'),
  cacheDir: join(dir, 'bundle-cache'),
});

// #region example
const found = await inspectBundle({ location: join(dir, 'release.tar') });
assert.ok(found, 'a bundle archive');
for (const image of found.manifest.images) console.log(`${image.image} ${image.platform} ${image.digest}`);
// Anything else is not a bundle: inspect it as usual.
assert.equal(await inspectBundle({ location: `${registry}/demo/busybox:multi` }), undefined);
// #endregion example
