// Shows a manifest as docker's `manifest inspect` does: here a registry's index.
import assert from 'node:assert/strict';
import { manifestInspect } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';

// #region example
const shown = await manifestInspect({ image: `${registry}/demo/busybox:multi` });
assert.equal(shown.kind, 'manifest');
if (shown.kind === 'manifest') {
  const index = JSON.parse(shown.raw.bytes.toString('utf8')) as { manifests: unknown[] };
  assert.equal(index.manifests.length, 2);
  console.log(`${shown.raw.digest}: ${shown.raw.mediaType}`);
}
// #endregion example
