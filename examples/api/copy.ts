// Copies the two-platform demo index from a registry into an OCI layout on disk, arm64 only.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { copy, parsePlatform } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();

// #region example
const result = await copy({
  source: `${registry}/demo/busybox:multi`,
  destination: `oci:${join(dir, 'layout')}:busybox`,
  platforms: [parsePlatform('linux/arm64')],
  onBlob: ({ descriptor, action }) => console.log(`${action} ${descriptor.digest}`),
});
// An index narrowed to one platform is rewritten: one entry, its manifest, and that image's blobs.
assert.equal(result.manifests, 2);
assert.ok(result.blobsCopied >= 2);
console.log(`copied ${result.descriptor.digest} (${result.bytesCopied} bytes)`);
// #endregion example
