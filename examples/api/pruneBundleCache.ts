// Empties the bundle blob cache that `bundle` fills so a rerun fetches only what it lacks.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { bundle, parsePlatformList, pruneBundleCache } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();
const cacheDir = join(dir, 'bundle-cache');
await bundle({ images: [`${registry}/demo/busybox:multi`], platforms: parsePlatformList('linux/amd64'), output: join(dir, 'release-{arch}.tar'), cacheDir });

// #region example
const pruned = await pruneBundleCache({ cacheDir, all: true });
console.log(`freed ${pruned.bytesFreed} bytes in ${pruned.removed.length} items; ${pruned.bytesKept} bytes kept`);
// #endregion example

assert.ok(pruned.bytesFreed > 0);
assert.equal(pruned.bytesKept, 0);
