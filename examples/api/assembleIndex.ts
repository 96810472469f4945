// Assembles a multi-arch index from single-platform images: here the amd64 image from the
// registry and the arm64 one from an OCI layout, pushed as one index to a new tag.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assembleIndex, copy, parsePlatform } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();
const layout = `oci:${join(dir, 'layout')}`;
await copy({ source: `${registry}/demo/busybox:multi`, destination: `${layout}:arm64`, platforms: [parsePlatform('linux/arm64')] });

// #region example
const result = await assembleIndex({
  sources: [`${registry}/demo/busybox:amd64`, `${layout}:arm64`],
  targets: [`${registry}/examples/assembled:1`],
  annotations: { 'org.opencontainers.image.description': 'busybox for two platforms' },
  onNotice: (notice) => console.error(`notice: ${notice}`),
});
assert.equal(result.entries.length, 2);
console.log(`pushed ${result.descriptor.digest} to ${result.targets.join(', ')}`);
// #endregion example
