// Empties a build cache: every entry, blob and leftover goes.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImages, detectHostPlatform, pruneBuildCache } from 'polyarch';

const dir = process.env.POLYARCH_EXAMPLE_DIR ?? '.';
const context = join(dir, 'context');
await mkdir(context, { recursive: true });
await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
await writeFile(join(context, 'hello.txt'), 'hello\n');
const cacheDir = join(dir, 'build-cache');
// Built and exported nowhere (outputs: []): the result's blobs stay in the cache until a prune.
await buildImages({ context, platforms: [detectHostPlatform()], buildPlatform: detectHostPlatform(), cacheDir, outputs: [] });

// #region example
const pruned = await pruneBuildCache({ cacheDir, all: true });
console.log(`freed ${pruned.bytesFreed} bytes in ${pruned.removed.length} items; ${pruned.bytesKept} bytes kept`);
// #endregion example

assert.ok(pruned.bytesFreed > 0);
assert.equal(pruned.bytesKept, 0);
