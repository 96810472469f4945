// Starts a local manifest list (docker's `manifest create`), kept in a docker config directory.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { manifestCreate } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();

// #region example
const { list, entries } = await manifestCreate({
  list: `${registry}/examples/list:1`,
  images: [`${registry}/demo/busybox:amd64`],
  registryConfigDir: join(dir, 'docker-config'), // default: ~/.docker, shared with docker
});
assert.equal(entries.length, 1);
assert.equal(entries[0]?.descriptor.platform?.architecture, 'amd64');
console.log(`${list}: ${entries.map((e) => e.ref).join(', ')}`);
// #endregion example
