// Checks that a multi-arch index lists the platforms a release needs, and that each image's
// binaries are built for the platform its entry claims.
import assert from 'node:assert/strict';
import { parsePlatformList, verify } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';

// #region example
const report = await verify({ location: `${registry}/demo/busybox:multi`, require: parsePlatformList('linux/amd64,linux/arm64') });
for (const finding of report.findings) console.log(`${finding.severity} ${finding.rule}: ${finding.detail}`);
assert.ok(report.passed, 'no finding is an error');
console.log(`${report.digest}: ${report.images.map((i) => `${i.platform} (${i.paths} paths)`).join(', ')}`);
// #endregion example
