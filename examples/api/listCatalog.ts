// Lists the repositories of a registry.
import assert from 'node:assert/strict';
import { listCatalog } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';

// #region example
const repositories = await listCatalog({ registry });
assert.ok(repositories.includes('demo/busybox'));
console.log(repositories.join('\n'));
// #endregion example
