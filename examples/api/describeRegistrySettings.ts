// Shows the settings in force for one registry host, each with the file it came from.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeRegistrySettings } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();
const path = join(dir, 'registries.toml');
await writeFile(path, `[registry."${registry}"]\nhttp = true\n`);

// #region example
const report = await describeRegistrySettings({ registry, registrySettings: { polyarch: { path } } });
assert.equal(report.settings.http?.value, true);
console.log(`${registry}: plain HTTP (from ${report.settings.http?.source})`);
for (const file of report.files) console.log(`  ${file.kind} ${file.path}${file.found ? '' : ' (absent)'}`);
// #endregion example
