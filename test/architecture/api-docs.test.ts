// The API reference builds from the TSDoc comments with TypeDoc's validation on (typedoc.json):
// every exported function documented, every {@link} and {@includeCode} example resolving. A
// warning fails the run, so this test fails on the first undocumented export or broken include.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

test('typedoc documents the whole public API without a warning', () => {
  const typedoc = fileURLToPath(new URL('node_modules/typedoc/bin/typedoc', `file://${ROOT}`));
  const run = spawnSync(process.execPath, [typedoc, '--emit', 'none'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  const said = `${run.stdout}${run.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
  assert.equal(run.status, 0, `typedoc exited ${run.status}:\n${said}`);
  assert.doesNotMatch(said, /\[warning\]|\[error\]/, said);
});
