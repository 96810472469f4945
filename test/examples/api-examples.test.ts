// Runs every library example (examples/api/<verb>.ts, compiled to build/examples/api/*.js) as a
// user would: a child `node` process importing the package by its name, against a loopback
// registry holding demo/busybox:multi (static busybox for linux/amd64 and linux/arm64) and
// demo/busybox:amd64 (the amd64 image alone), with a fresh scratch directory each. The examples
// are what the API reference shows, so one that no longer runs is a broken document.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { copy, inspect, parsePlatform, samePlatform } from '../../src/index.js';
import { storeBusyboxIndex } from '../helpers/busybox-index.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { tempDir } from '../helpers/temp-dir.js';

const COMPILED = fileURLToPath(new URL('../../examples/api/', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const examples = existsSync(COMPILED) ? readdirSync(COMPILED).filter((name) => name.endsWith('.js')).sort() : [];

let registry: EmbeddedHandle;
let work: Awaited<ReturnType<typeof tempDir>>;

before(async () => {
  registry = await startEmbedded();
  work = await tempDir('polyarch-api-examples-');
  const multi = `${registry.host}/demo/busybox:multi`;
  await storeBusyboxIndex(multi, ['amd64', 'arm64'], join(work.path, 'roots'));
  const index = await inspect({ location: multi });
  assert.equal(index.kind, 'index');
  const amd64 = index.kind === 'index' ? index.entries.find((e) => e.platform && samePlatform(e.platform, parsePlatform('linux/amd64'))) : undefined;
  assert.ok(amd64, 'the demo index has an amd64 image');
  await copy({ source: `${registry.host}/demo/busybox@${amd64.descriptor.digest}`, destination: `${registry.host}/demo/busybox:amd64` });
});

after(async () => {
  await registry?.stop();
  await work?.remove();
});

function run(file: string, dir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], {
      cwd: dir,
      env: { ...process.env, POLYARCH_EXAMPLE_REGISTRY: registry.host, POLYARCH_EXAMPLE_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('the examples are compiled, one per documented verb at least', () => {
  assert.ok(examples.length > 0, `no examples in ${COMPILED}: was "examples" left out of tsconfig.json?`);
});

test('every {@includeCode} in the library names an example that exists and has its region', () => {
  const sources = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : [];
    });
  let includes = 0;
  for (const file of sources(join(REPO, 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(/\{@includeCode ([^#}\s]+)#example\}/g)) {
      includes++;
      const example = join(file, '..', match[1]!);
      assert.ok(existsSync(example), `${file.slice(REPO.length)} includes ${match[1]}, which does not exist`);
      const text = readFileSync(example, 'utf8');
      assert.match(text, /\/\/ #region example\n[^]*\/\/ #endregion example/, `${example.slice(REPO.length)} has no example region`);
      assert.ok(examples.includes(example.slice(example.lastIndexOf('/') + 1).replace(/\.ts$/, '.js')), `${example.slice(REPO.length)} is not compiled`);
    }
  }
  assert.ok(includes > 0);
});

for (const name of examples) {
  test(`example ${name} runs and prints its result`, async () => {
    const scratch = await tempDir('polyarch-api-example-');
    try {
      const { code, stdout, stderr } = await run(join(COMPILED, name), scratch.path);
      assert.equal(code, 0, `${name} exited ${code}:\n${stderr}`);
      const noise = stderr.split('\n').filter((l) => l !== '' && !/^notice: /.test(l));
      assert.deepEqual(noise, [], `${name} wrote more than notices to stderr`);
      assert.notEqual(stdout.trim(), '', `${name} printed nothing`);
    } finally {
      await scratch.remove();
    }
  });
}
