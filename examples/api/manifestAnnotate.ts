// Sets platform fields of an entry of a local manifest list (docker's `manifest annotate`).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { manifestAnnotate, manifestCreate } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();
const registryConfigDir = join(dir, 'docker-config');
const list = `${registry}/examples/list:1`;
const image = `${registry}/demo/busybox:amd64`;
await manifestCreate({ list, images: [image], registryConfigDir });

// #region example
const entry = await manifestAnnotate({
  list,
  image,
  osFeatures: ['sse4'],
  registryConfigDir,
  onNotice: (notice) => console.error(`notice: ${notice}`),
});
assert.deepEqual(entry.descriptor.platform?.['os.features'], ['sse4']);
console.log(`${entry.ref}: ${JSON.stringify(entry.descriptor.platform)}`);
// #endregion example
