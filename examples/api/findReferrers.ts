// Finds what refers to an image (signatures, SBOMs pushed with a `subject`). The demo image has
// none; a signed one lists its signature manifests here, ready to copy along.
import assert from 'node:assert/strict';
import { findReferrers, parseLocation, withOpener } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';

// #region example
const found = await withOpener({}, async (opener) => {
  const { endpoint: source } = await opener.open(parseLocation(`${registry}/demo/busybox`), 'read');
  const subject = await source.getManifest('multi');
  return findReferrers({ source, subjects: [subject], maxDepth: 2 });
});
assert.equal(found.count, found.manifests.length);
console.log(`${found.count} referrer(s), ${found.ignored} listed entries ignored`);
// #endregion example
