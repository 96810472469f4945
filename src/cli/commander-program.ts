// The commander program built from the command definitions; loaded only when a command runs
// (or when the arguments are more than help.ts answers alone).
import { Command } from 'commander';
import type { ArgumentSpec, CommandSpec, OptionParser, OptionSpec, ProgramSpec } from './command-spec.js';
import type { CliContext } from './context.js';
import { collect, integerOption, parseProgressMode } from './option-parsers.js';

/** The long flag an option's errors name: `--concurrency` from `--concurrency <n>`. */
function longFlag(flags: string): string {
  return /--[\w-]+/.exec(flags)?.[0] ?? flags;
}

function parserFor(parser: OptionParser, flags: string): (value: string, previous: unknown) => unknown {
  switch (parser.kind) {
    case 'integer':
      return integerOption(longFlag(flags), parser.min, parser.max);
    case 'collect':
      return collect as (value: string, previous: unknown) => unknown;
    case 'progress-mode':
      return parseProgressMode;
  }
}

function addOption(command: Command, option: OptionSpec): void {
  const add = (option.required ? command.requiredOption : command.option).bind(command);
  if (option.parse) add(option.flags, option.description, parserFor(option.parse, option.flags), option.default);
  // Without a parser the value stays the text given, so a default is text too.
  else add(option.flags, option.description, option.default === undefined ? undefined : String(option.default));
}

function addArgument(command: Command, argument: ArgumentSpec): void {
  if (argument.default !== undefined) command.argument(argument.name, argument.description ?? '', argument.default);
  else command.argument(argument.name, argument.description);
}

function addCommand(parent: Command, spec: CommandSpec, context: CliContext): void {
  const command = parent.command(spec.name);
  if (spec.alias !== undefined) command.alias(spec.alias);
  if (spec.description !== undefined) command.description(spec.description);
  for (const argument of spec.arguments ?? []) addArgument(command, argument);
  for (const option of spec.options ?? []) addOption(command, option);
  for (const sub of spec.commands ?? []) addCommand(command, sub, context);
  const load = spec.action;
  if (load) {
    command.action(async (...parsed: unknown[]) => {
      const action = (await load()) as (context: CliContext, ...parsed: unknown[]) => Promise<void>;
      await action(context, ...parsed);
    });
  }
}

export function buildProgram(spec: ProgramSpec, version: string, context: CliContext): Command {
  const program = new Command(spec.name)
    .description(spec.description ?? '')
    .version(version, spec.versionOption.flags, spec.versionOption.description)
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => context.stdout.write(s), writeErr: () => undefined });
  for (const option of spec.options ?? []) addOption(program, option);
  for (const command of spec.commands) addCommand(program, command, context);
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const command of all(program).slice(1)) command.exitOverride().configureOutput({ writeOut: (s) => context.stdout.write(s), writeErr: () => undefined });
  return program;
}
