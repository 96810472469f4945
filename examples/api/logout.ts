// Removes stored credentials for a registry.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { login, logout } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();
const registryConfigDir = join(dir, 'docker-config');
await login({ registry, username: 'ci', password: 'secret', registryConfigDir });

// #region example
await logout({ registry, registryConfigDir });
const config = JSON.parse(await readFile(join(registryConfigDir, 'config.json'), 'utf8')) as { auths?: Record<string, unknown> };
assert.equal(config.auths?.[registry], undefined);
console.log(`logged out of ${registry}`);
// #endregion example
