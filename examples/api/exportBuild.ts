// Builds once, keeps the result in the build cache, then writes it to two outputs: an OCI layout
// directory and each platform's filesystem.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImages, detectHostPlatform, exportBuild, parsePlatformList } from 'polyarch';

const dir = process.env.POLYARCH_EXAMPLE_DIR ?? '.';
const context = join(dir, 'context');
await mkdir(context, { recursive: true });
await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
await writeFile(join(context, 'hello.txt'), 'hello\n');
const result = await buildImages({ context, platforms: parsePlatformList('linux/amd64,linux/arm64'), buildPlatform: detectHostPlatform(), cacheDir: join(dir, 'build-cache') });

// #region example
const written = await exportBuild({
  result,
  outputs: [
    { type: 'location', location: `oci:${join(dir, 'layout')}:v1` },
    { type: 'local', dest: join(dir, 'rootfs') },
  ],
});
// #endregion example

assert.deepEqual(written, [`oci:${join(dir, 'layout')}:v1`, `local:${join(dir, 'rootfs')}`]);
assert.equal(await readFile(join(dir, 'rootfs', 'linux_arm64', 'hello.txt'), 'utf8'), 'hello\n');
console.log(`exported ${result.index.digest} to ${written.join(' and ')}`);
