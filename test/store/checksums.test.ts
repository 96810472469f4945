// SHA256SUMS beside bundle archives is merged, not overwritten: bundles for other platforms may be
// written into one directory at once (a CI job each), and every archive keeps its line.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);
const RECORD = fileURLToPath(new URL('../../src/store/bundle-archive.js', import.meta.url));
const WRITERS = 4;

/** One process recording one archive's line, starting at `at` (ms since the epoch) with the others. */
function writer(dir: string, index: number, at: number): Promise<unknown> {
  const script = `
    const { recordChecksums } = await import(${JSON.stringify(RECORD)});
    while (Date.now() < ${at}) {}
    await recordChecksums(${JSON.stringify(dir)}, new Map([[${JSON.stringify(join(dir, `app-${index}.tar`))}, 'sha256:${String(index).repeat(64)}']]));
  `;
  return exec(process.execPath, ['--input-type=module', '-e', script]);
}

test('writers at the same moment each keep their line in SHA256SUMS, and no lock is left', { timeout: 120_000 }, async () => {
  const dir = await tempDir();
  try {
    for (let round = 0; round < 5; round++) {
      const at = Date.now() + 700;
      const roundDir = join(dir.path, `round-${round}`);
      await mkdir(roundDir);
      await Promise.all(Array.from({ length: WRITERS }, (_, i) => writer(roundDir, i, at)));
      const lines = (await readFile(join(roundDir, 'SHA256SUMS'), 'utf8')).trim().split('\n');
      assert.deepEqual(lines, Array.from({ length: WRITERS }, (_, i) => `${String(i).repeat(64)}  app-${i}.tar`), `round ${round}`);
      assert.deepEqual(await readdir(roundDir), ['SHA256SUMS'], `round ${round}: only the file`);
    }
  } finally {
    await dir.remove();
  }
});
