// `polyarch --version` and `--help` must start as fast as node itself: they are answered from the
// command definitions, and neither the argument parser, the library nor any third-party package
// may load for them (issue 11: CLI start ≤ 0.15 s). A top-level import of the library or of a
// command's implementation in the CLI's entry point fails this test. The compiled modules
// (dist/cli/) show that structure; the installed bin (dist/bin/) is their bundle, which keeps it.
import assert from 'node:assert/strict';
import { copyFile, cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI_PATH, runCli } from '../helpers/run-cli.js';
import { traceModules } from '../helpers/module-trace/trace.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIST = new URL('../../../dist/', import.meta.url).href;
const BIN = `${DIST}bin/`;
const COMPILED_CLI = fileURLToPath(`${DIST}cli/main.js`);

/** What a help or version answer must not load: any package, the library's entry, any command's implementation. */
function heavy(modules: readonly string[]): string[] {
  return modules.filter((url) => url.includes('/node_modules/') || url === `${DIST}index.js` || url.startsWith(`${DIST}cli/actions/`) || (url.startsWith(DIST) && !url.startsWith(`${DIST}cli/`)));
}

for (const args of [['--version'], ['-V'], ['--help'], ['-h'], ['inspect', '--help'], ['cp', '--help'], ['manifest', 'create', '--help'], ['push', 'from-args', '-h']]) {
  test(`polyarch ${args.join(' ')} loads only the CLI's definitions`, async () => {
    const run = await traceModules(COMPILED_CLI, args);
    assert.equal(run.code, 0);
    assert.ok(run.stdout.length > 0);
    // The trace works (it sees the entry point); help also needs the definitions, the version nothing else.
    assert.ok(run.modules.some((url) => url.endsWith('/dist/cli/main.js')), `the trace saw the entry point: ${run.modules.join(', ')}`);
    if (args.some((a) => a === '--help' || a === '-h')) assert.ok(run.modules.some((url) => url.endsWith('/dist/cli/commands/polyarch.js')), `the trace saw the definitions: ${run.modules.join(', ')}`);
    assert.deepEqual(heavy(run.modules), []);
  });
}

test('running a command loads commander, the library and only its own implementation (the trace sees them)', async () => {
  const run = await traceModules(COMPILED_CLI, ['inspect', 'oci:/nonexistent-layout-for-trace']);
  assert.notEqual(run.code, 0);
  const loaded = heavy(run.modules);
  assert.ok(loaded.some((url) => /\/node_modules\/commander\//.test(url)), 'commander loaded');
  assert.ok(loaded.includes(`${DIST}index.js`), 'the library loaded');
  assert.deepEqual(
    loaded.filter((url) => url.startsWith(`${DIST}cli/actions/`)).map((url) => url.slice(`${DIST}cli/actions/`.length)),
    ['inspect.js'],
  );
});

test('the installed bin imports only its own files (dist/bin/) and Node’s modules, and --version only its entry', async () => {
  const version = await traceModules(CLI_PATH, ['--version']);
  assert.equal(version.code, 0);
  assert.deepEqual(version.modules.filter((url) => !url.startsWith('node:')), [`${BIN}polyarch.js`]);
  const help = await traceModules(CLI_PATH, ['inspect', '--help']);
  assert.equal(help.code, 0);
  const inspect = await traceModules(CLI_PATH, ['inspect', 'oci:/nonexistent-layout-for-trace']);
  assert.notEqual(inspect.code, 0);
  for (const run of [help, inspect]) assert.deepEqual(run.modules.filter((url) => !url.startsWith('node:') && !url.startsWith(BIN)), []);
  // The command's code came in files the help answer did not need (command-code.cjs itself is
  // read through the code cache, not imported: test/cli/code-cache.test.ts).
  assert.ok(inspect.modules.length > help.modules.length, `${inspect.modules.length} modules for inspect, ${help.modules.length} for its help`);
});

test('the installed bin runs without node_modules: the packages it loads on first use are its own files', async () => {
  // A copy of the package without node_modules: a require() that escaped the bundle would fail.
  const dir = await tempDir('polyarch-bin-alone-');
  try {
    const bin = join(dir.path, 'dist', 'bin');
    await cp(fileURLToPath(BIN), bin, { recursive: true });
    await copyFile(fileURLToPath(new URL('../../../package.json', import.meta.url)), join(dir.path, 'package.json'));
    await mkdir(join(dir.path, 'context'));
    await writeFile(join(dir.path, 'context', 'Dockerfile'), 'FROM scratch\nCOPY missing /x\n');
    await writeFile(join(dir.path, 'spec.yaml'), 'image: [unclosed\n');
    const run = (args: string[]) => runCli(args, { cwd: dir.path, cli: join(bin, 'polyarch.js') });
    // dockerfile-ast parsed the file (the error names its line); yaml read the spec (its own message).
    const build = await run(['build', '--platform', 'linux/amd64', 'context']);
    assert.equal(build.code, 2, build.stderr);
    assert.match(build.stderr, /context\/Dockerfile:2: COPY source "missing" not found in the build context \[USAGE\]/);
    const spec = await run(['push', 'from-spec', 'spec.yaml']);
    assert.equal(spec.code, 2, spec.stderr);
    assert.match(spec.stderr, /spec file spec\.yaml: not valid YAML \(.+\) \[CONFIG_INVALID\]/);
    for (const stderr of [build.stderr, spec.stderr]) assert.doesNotMatch(stderr, /Cannot find module/);
    // Without the package.json beside it, the version is unknown, not a stack trace.
    await rm(join(dir.path, 'package.json'));
    const version = await run(['--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, 'unknown\n');
    const again = await run(['build', '--platform', 'linux/amd64', 'context']);
    assert.match(again.stderr, /COPY source "missing" not found in the build context \[USAGE\]/);
    assert.doesNotMatch(again.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    await dir.remove();
  }
});
