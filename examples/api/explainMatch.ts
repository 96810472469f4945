// Tells which entry of an index a linux/arm64 machine would pull, and why the others were not.
import assert from 'node:assert/strict';
import { explainMatch, formatPlatform, parsePlatform } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';

// #region example
const explanation = await explainMatch({ location: `${registry}/demo/busybox:multi`, host: parsePlatform('linux/arm64') });
assert.equal(explanation.chosen?.platform && formatPlatform(explanation.chosen.platform), 'linux/arm64');
console.log(`pulls ${explanation.chosen?.digest}`);
for (const line of explanation.why) console.log(`  ${line}`);
// #endregion example
