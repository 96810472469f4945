// Stores credentials for a registry, checked against it first, in a docker config directory.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { login } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();

// #region example
const registryConfigDir = join(dir, 'docker-config'); // default: ~/.docker, as docker uses
await login({ registry, username: 'ci', password: process.env.REGISTRY_PASSWORD ?? 'secret', registryConfigDir });
const config = JSON.parse(await readFile(join(registryConfigDir, 'config.json'), 'utf8')) as { auths: Record<string, unknown> };
assert.ok(config.auths[registry]);
console.log(`logged in to ${registry}`);
// #endregion example
