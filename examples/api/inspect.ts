// Lists the platforms of a multi-arch index.
import assert from 'node:assert/strict';
import { formatPlatform, inspect } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';

// #region example
const inspection = await inspect({ location: `${registry}/demo/busybox:multi` });
assert.equal(inspection.kind, 'index');
if (inspection.kind === 'index') {
  const platforms = inspection.entries.flatMap((entry) => (entry.platform ? [formatPlatform(entry.platform)] : []));
  assert.deepEqual(platforms.sort(), ['linux/amd64', 'linux/arm64']);
  console.log(`${inspection.descriptor.digest}: ${platforms.join(', ')}`);
}
// #endregion example
