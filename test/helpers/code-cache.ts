// The CLI's code cache (src/cli/code-cache.ts) driven from tests: each load in a process of its
// own, since in one process V8 keeps each source it compiled and would not look at a cache file again.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const MODULE = new URL('../../src/cli/code-cache.js', import.meta.url).href;

/** requireWithCodeCache(file, cache, variant) in a new process; saveCache() loads it again in another and saves there. */
export function requireInOwnProcess(file: string, cache: string | undefined, variant?: string): { cache: string; exports: unknown; saveCache: () => void } {
  const run = (save: boolean) => {
    const code = `const { requireWithCodeCache } = await import(${JSON.stringify(MODULE)});
      const loaded = requireWithCodeCache(${JSON.stringify(file)}, ${JSON.stringify(cache ?? null)} ?? undefined, ${JSON.stringify(variant ?? null)} ?? undefined);
      if (${save}) loaded.saveCache();
      process.stdout.write(JSON.stringify({ cache: loaded.cache, exports: loaded.exports }));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stderr, '');
    return JSON.parse(child.stdout) as { cache: string; exports: unknown };
  };
  return { ...run(false), saveCache: () => void run(true) };
}

/** The cache files in a code cache directory (none when it is missing). */
export async function cacheFilesIn(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.v8-cache'));
}

/**
 * Writes a small CommonJS script into `dir` with enough code for V8 to cache, and a result that
 * shows it ran (exports, require and __dirname work); `expected` is what it exports.
 */
export async function writeProbeScript(dir: string): Promise<{ script: string; expected: unknown }> {
  const script = join(dir, 'script.cjs');
  await writeFile(script, `const { join } = require('node:path');\nfunction square(n) { return n * n; }\nmodule.exports = { answer: square(6) + 6, here: join(__dirname, 'x'), arrow: '\\u2192' };\n`);
  return { script, expected: { answer: 42, here: join(dir, 'x'), arrow: '→' } };
}
