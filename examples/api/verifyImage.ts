// Verifies an image through an endpoint the caller keeps open (an OCI layout here).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { copy, parseLocation, verifyImage, withOpener } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();
const layout = join(dir, 'layout');
await copy({ source: `${registry}/demo/busybox:multi`, destination: `oci:${layout}:busybox` });

// #region example
const report = await withOpener({}, async (opener) => {
  const { endpoint } = await opener.open(parseLocation(`oci:${layout}`), 'read');
  return verifyImage({ endpoint, reference: 'busybox' });
});
assert.ok(report.passed);
assert.equal(report.images.length, 2);
console.log(`${report.digest}: passed, ${report.findings.length} finding(s)`);
// #endregion example
