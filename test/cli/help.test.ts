// help.ts prints commander's help without loading commander: for every command, at every width,
// its text must be exactly what commander prints for the program built from the same definitions.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Command } from 'commander';
import type { CommandSpec } from '../../src/cli/command-spec.js';
import { buildProgram } from '../../src/cli/commander-program.js';
import { POLYARCH } from '../../src/cli/commands/polyarch.js';
import { formatHelp, quickAnswer } from '../../src/cli/help.js';
import { runCli } from '../helpers/run-cli.js';

const context = { signal: new AbortController().signal, stdout: { write: () => true }, stderr: { write: () => true }, stdin: process.stdin };

/** Every command path under the program: [program], [program, inspect], [program, manifest, create]… */
function paths(spec: CommandSpec, prefix: readonly CommandSpec[] = []): CommandSpec[][] {
  const here = [...prefix, spec];
  return [here, ...(spec.commands ?? []).flatMap((c) => paths(c, here))];
}

function commanderCommand(program: Command, path: readonly CommandSpec[]): Command {
  let command = program;
  for (const spec of path.slice(1)) command = command.commands.find((c) => c.name() === spec.name) as Command;
  return command;
}

test('help text is commander’s for every command at every width', () => {
  const all = paths(POLYARCH);
  assert.ok(all.length > 20, `${all.length} commands`);
  for (const width of [30, 60, 80, 100, 132, 250]) {
    const program = buildProgram(POLYARCH, '9.9.9', context);
    for (const path of all) {
      const command = commanderCommand(program, path);
      command.configureOutput({ getOutHelpWidth: () => width });
      assert.equal(formatHelp(POLYARCH, path, width), command.helpInformation(), `${path.map((c) => c.name).join(' ')} at ${width} columns`);
    }
  }
});

test('only --version, --help and COMMAND… --help are answered without commander', () => {
  const version = (): string => '9.9.9';
  assert.equal(quickAnswer(POLYARCH, ['--version'], 80, version), '9.9.9\n');
  assert.equal(quickAnswer(POLYARCH, ['cp', '-h'], 80, version), formatHelp(POLYARCH, [POLYARCH, POLYARCH.commands.find((c) => c.name === 'copy') as CommandSpec], 80));
  for (const argv of [[], ['inspect'], ['inspect', 'x', '--help'], ['--json', '--help'], ['nope', '--help'], ['help', 'inspect'], ['--version', '--help'], ['inspect', '--version']]) {
    assert.equal(quickAnswer(POLYARCH, argv, 80, version), undefined, argv.join(' '));
  }
});

test('the CLI prints the same help and version as commander', async () => {
  const program = buildProgram(POLYARCH, '9.9.9', context);
  program.configureOutput({ getOutHelpWidth: () => 80 });
  const inspect = commanderCommand(program, [POLYARCH, POLYARCH.commands.find((c) => c.name === 'inspect') as CommandSpec]);
  inspect.configureOutput({ getOutHelpWidth: () => 80 });
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.deepEqual(await runCli(['--help']), { code: 0, stdout: program.helpInformation(), stderr: '' });
  assert.deepEqual(await runCli(['inspect', '--help']), { code: 0, stdout: inspect.helpInformation(), stderr: '' });
  assert.deepEqual(await runCli(['--version']), { code: 0, stdout: `${pkg.version}\n`, stderr: '' });
});
