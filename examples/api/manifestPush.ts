// Pushes a local manifest list to the registry its name points at (docker's `manifest push`).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { inspect, manifestCreate, manifestPush } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();
const registryConfigDir = join(dir, 'docker-config');
const list = `${registry}/examples/pushed-list:1`;
await manifestCreate({ list, images: [`${registry}/demo/busybox:amd64`], registryConfigDir });

// #region example
const descriptor = await manifestPush({ list, purge: true, registryConfigDir });
const pushed = await inspect({ location: list });
assert.equal(pushed.descriptor.digest, descriptor.digest);
console.log(`pushed ${list}: ${descriptor.digest}`);
// #endregion example
