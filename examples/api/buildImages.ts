// Builds a two-platform image from a Dockerfile (FROM scratch + COPY: no RUN step, so no emulation
// is needed) and writes it as an OCI archive.
import assert from 'node:assert/strict';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImages, detectHostPlatform, parsePlatformList } from 'polyarch';

const dir = process.env.POLYARCH_EXAMPLE_DIR ?? '.';
const context = join(dir, 'context');
await mkdir(context, { recursive: true });
await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
await writeFile(join(context, 'hello.txt'), 'hello\n');

// #region example
const result = await buildImages({
  context,
  platforms: parsePlatformList('linux/amd64,linux/arm64'),
  buildPlatform: detectHostPlatform(),
  cacheDir: join(dir, 'build-cache'),
  outputs: [{ type: 'oci', dest: join(dir, 'hello.oci.tar'), name: 'example/hello:1.0' }],
});
// #endregion example

assert.equal(result.images.length, 2);
assert.deepEqual(result.outputs, [`oci-archive:${join(dir, 'hello.oci.tar')}:1.0`]);
assert.ok((await stat(join(dir, 'hello.oci.tar'))).size > 0);
console.log(`built ${result.index.digest} for ${result.images.map((i) => `${i.platform?.os}/${i.platform?.architecture}`).join(', ')}`);
