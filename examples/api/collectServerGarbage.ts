// Collects the garbage of an embedded registry's store (`serve --gc`): blobs no manifest needs.
// The scratch store here is empty; point root at a `polyarch serve --root` directory.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { collectServerGarbage } from 'polyarch';

const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();
const root = join(dir, 'registry');
await mkdir(root, { recursive: true });

// #region example
const result = await collectServerGarbage({ root, gracePeriodMs: 60 * 60 * 1000 });
assert.equal(result.removed, 0);
console.log(`removed ${result.removed} blob(s), kept ${result.kept} (${result.young} too young to judge)`);
// #endregion example
