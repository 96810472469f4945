// Lists the tags of a repository.
import assert from 'node:assert/strict';
import { listTags } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';

// #region example
const tags = await listTags({ location: `${registry}/demo/busybox` });
assert.ok(tags.includes('multi') && tags.includes('amd64'));
console.log(tags.join('\n'));
// #endregion example
