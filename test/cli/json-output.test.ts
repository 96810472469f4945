// `--json` on every command that prints data: the command table is walked, and each command that
// prints data runs once with --json against a real registry, its whole standard output parsed as
// one JSON document. A command added to the table without a run here (or a reason it prints no
// data) fails the first test.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CommandSpec } from '../../src/cli/command-spec.js';
import { POLYARCH } from '../../src/cli/commands/polyarch.js';
import { storeBusyboxIndex } from '../helpers/busybox-index.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { CLI_PATH, runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Commands that print no data, and why (what they print instead, if anything). */
const NO_DATA: Readonly<Record<string, string>> = {
  'manifest annotate': 'edits an entry of a local list and prints nothing',
  'manifest rm': 'deletes local lists and prints nothing',
  completion: 'prints a shell script, which is code for the shell, not data',
};

/** Every command path with an action (`manifest create`, `bundle`, `bundle push`, …). */
function commandPaths(commands: readonly CommandSpec[], prefix = ''): string[] {
  return commands.flatMap((c) => [...(c.action ? [`${prefix}${c.name}`] : []), ...commandPaths(c.commands ?? [], `${prefix}${c.name} `)]);
}

describe('--json on every command that prints data', () => {
  let registry: EmbeddedHandle;
  let dir: { path: string; remove: () => Promise<void> };
  let runs: Record<string, { args: string[]; input?: string; exitCodes?: number[] }>;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dir = await tempDir('polyarch-json-');
    registry = await startEmbedded();
    const host = registry.host;
    const multi = `${host}/demo/busybox:multi`;
    await storeBusyboxIndex(multi, ['amd64', 'arm64'], dir.path);
    env = { XDG_CACHE_HOME: join(dir.path, 'cache'), DOCKER_CONFIG: join(dir.path, 'docker') };
    for (const arch of ['amd64', 'arm64']) {
      const copied = await runCli(['copy', '-q', '--platform', `linux/${arch}`, multi, `${host}/demo/arch:${arch}`], { env });
      assert.equal(copied.code, 0, copied.stderr);
    }
    const context = join(dir.path, 'context');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
    await writeFile(join(context, 'hello.txt'), 'hello\n');
    const spec = join(dir.path, 'spec.yaml');
    await writeFile(spec, `image: ${host}/demo/spec:1\nmanifests:\n  - image: ${host}/demo/arch:amd64\n    platform:\n      architecture: amd64\n      os: linux\n`);
    const quiet = ['--progress', 'quiet'];
    runs = {
      login: { args: ['login', host, '--username', 'someone', '--password-stdin'], input: 'secret\n' },
      logout: { args: ['logout', host] },
      inspect: { args: ['inspect', multi] },
      copy: { args: ['copy', multi, `${host}/demo/copy:1`, ...quiet] },
      bundle: { args: ['bundle', multi, '--platform', 'linux/amd64', '-o', join(dir.path, 'bundle-{arch}.tar'), ...quiet] },
      'bundle push': { args: ['bundle', 'push', join(dir.path, 'bundle-amd64.tar'), '--to', `${host}/bundled`, ...quiet] },
      tags: { args: ['tags', `${host}/demo/arch`] },
      catalog: { args: ['catalog', host] },
      delete: { args: ['delete', `${host}/demo/copy:1`] },
      'manifest create': { args: ['manifest', 'create', `${host}/demo/list:1`, `${host}/demo/arch:amd64`, `${host}/demo/arch:arm64`] },
      'manifest inspect': { args: ['manifest', 'inspect', `${host}/demo/list:1`] },
      'manifest push': { args: ['manifest', 'push', `${host}/demo/list:1`, ...quiet] },
      'index create': { args: ['index', 'create', `${host}/demo/arch:amd64`, `${host}/demo/arch:arm64`, '-t', `${host}/demo/index:1`, ...quiet] },
      'push from-spec': { args: ['push', 'from-spec', spec, ...quiet] },
      'push from-args': { args: ['push', 'from-args', '--platforms', 'linux/amd64,linux/arm64', '--template', `${host}/demo/arch:ARCH`, '--target', `${host}/demo/args:1`, ...quiet] },
      explain: { args: ['explain', multi, '--host', 'linux/arm64'] },
      verify: { args: ['verify', multi], exitCodes: [0, 1] },
      build: { args: ['build', context, '--platform', 'linux/amd64,linux/arm64', '-o', `type=oci,dest=${join(dir.path, 'built.tar')}`, ...quiet] },
      prune: { args: ['prune'] },
      binfmt: { args: ['binfmt'] },
      run: { args: ['run', '--all-platforms', ...quiet, multi, 'uname', '-m'] },
      'config show': { args: ['config', 'show', host] },
    };
  });

  after(async () => {
    await registry?.stop();
    await dir?.remove();
  });

  test('every command in the table is run below or listed as printing no data', () => {
    const paths = commandPaths(POLYARCH.commands);
    const covered = new Set([...Object.keys(runs), ...Object.keys(NO_DATA), 'serve']);
    assert.deepEqual(paths.filter((p) => !covered.has(p)), [], 'commands with neither a --json run nor a reason');
    assert.deepEqual([...covered].filter((p) => !paths.includes(p)), [], 'runs for commands that do not exist');
  });

  test('each prints one JSON document on standard output', async () => {
    // In table order: later commands read what earlier ones made (the bundle, the local list).
    for (const [path, run] of Object.entries(runs)) {
      const result = await runCli(['--json', ...run.args], { env, ...(run.input !== undefined ? { input: run.input } : {}) });
      assert.ok((run.exitCodes ?? [0]).includes(result.code), `${path} exited ${result.code}: ${result.stderr}`);
      assert.doesNotThrow(() => JSON.parse(result.stdout), `${path} --json printed ${JSON.stringify(result.stdout)}`);
      assert.notEqual(result.stdout.trim(), '', `${path} printed nothing`);
    }
  });

  test('serve prints one JSON line with its address once it listens', async () => {
    const child = spawn(process.execPath, [CLI_PATH, '--json', 'serve', '--root', join(dir.path, 'served'), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const first = await new Promise<string>((resolve, reject) => {
        let text = '';
        child.stdout.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
        });
        child.once('close', (code) => reject(new Error(`serve exited ${code} before listening`)));
      });
      const ready = JSON.parse(first) as { address: string; url: string };
      assert.match(ready.address, /^127\.0\.0\.1:\d+$/);
      assert.equal(ready.url, `http://${ready.address}`);
      assert.equal((await fetch(`${ready.url}/v2/`)).status, 200, 'the address printed is the one listening');
    } finally {
      const closed = new Promise((resolve) => child.once('close', resolve));
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
      await closed;
    }
  });
});
