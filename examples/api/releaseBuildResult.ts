// A build whose result is only inspected, never exported: its tag leaves the build cache again so
// the next prune may remove its blobs.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImages, detectHostPlatform, releaseBuildResult } from 'polyarch';

const dir = process.env.POLYARCH_EXAMPLE_DIR ?? '.';
const context = join(dir, 'context');
await mkdir(context, { recursive: true });
await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
await writeFile(join(context, 'hello.txt'), 'hello\n');
const cacheDir = join(dir, 'build-cache');

// #region example
const result = await buildImages({ context, platforms: [detectHostPlatform()], buildPlatform: detectHostPlatform(), cacheDir });
console.log(`built ${result.index.digest}, kept in ${result.layout} as ${result.tag}`);
await releaseBuildResult({ result });
// #endregion example

const index = JSON.parse(await readFile(join(cacheDir, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
assert.ok(!index.manifests.some((m) => m.annotations?.['org.opencontainers.image.ref.name'] === result.tag), 'the tag is gone');
