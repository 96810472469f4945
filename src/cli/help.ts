// `--help` and `--version` answered from the command definitions alone, so asking for help loads
// neither commander nor the library. The text is commander's own help, byte for byte (the
// layout rules of its Help class, for the features the definitions use); test/cli/help.test.ts
// compares the two for every command at several widths.
import type { ArgumentSpec, CommandSpec, OptionSpec, ProgramSpec } from './command-spec.js';

const HELP_OPTION: OptionSpec = { flags: '-h, --help', description: 'display help for command' };
const HELP_COMMAND: CommandSpec = { name: 'help', description: 'display help for command', arguments: [{ name: '[command]' }] };
/** commander does not wrap a description given fewer columns than this. */
const MIN_WIDTH_TO_WRAP = 40;
const INDENT = 2;
const SPACER = 2;

/** `<images...>` → `images`, as the Arguments section names it. */
function argumentName(argument: ArgumentSpec): string {
  return argument.name.slice(1, -1).replace(/\.\.\.$/, '');
}

/** Options that take a value (`<x>` or `[x]`) show their default. */
function optionDescription(option: OptionSpec): string {
  if (option.default === undefined || !/[<[]/.test(option.flags)) return option.description;
  return `${option.description} (default: ${JSON.stringify(option.default)})`;
}

function argumentDescription(argument: ArgumentSpec): string {
  const description = argument.description ?? '';
  if (argument.default === undefined) return description;
  const extra = `(default: ${JSON.stringify(argument.default)})`;
  return description ? `${description} ${extra}` : extra;
}

function visibleOptions(spec: CommandSpec, program: ProgramSpec): OptionSpec[] {
  return [...(spec === program ? [program.versionOption] : []), ...(spec.options ?? []), HELP_OPTION];
}

function visibleCommands(spec: CommandSpec): CommandSpec[] {
  const commands = spec.commands ?? [];
  return commands.length > 0 && !spec.action ? [...commands, HELP_COMMAND] : [...commands];
}

/** `copy|cp [options] <source> <destination>`: a command as its parent's help lists it. */
function subcommandTerm(spec: CommandSpec): string {
  const args = (spec.arguments ?? []).map((a) => a.name).join(' ');
  return `${spec.name}${spec.alias !== undefined ? `|${spec.alias}` : ''}${spec.options?.length ? ' [options]' : ''}${args ? ` ${args}` : ''}`;
}

/** Wraps at whitespace to `width` columns, keeping the line breaks the text has. */
function boxWrap(text: string, width: number): string {
  if (width < MIN_WIDTH_TO_WRAP) return text;
  const lines: string[] = [];
  for (const raw of text.split(/\r\n|\n/)) {
    const chunks = raw.match(/\s*\S+/g);
    if (chunks === null) {
      lines.push('');
      continue;
    }
    let current = chunks[0] as string;
    for (const chunk of chunks.slice(1)) {
      if (current.length + chunk.length <= width) {
        current += chunk;
        continue;
      }
      lines.push(current);
      current = chunk.trimStart();
    }
    lines.push(current);
  }
  return lines.join('\n');
}

function formatItem(term: string, termWidth: number, description: string, helpWidth: number): string {
  const indent = ' '.repeat(INDENT);
  if (!description) return indent + term;
  const remaining = helpWidth - termWidth - SPACER - INDENT;
  const formatted =
    remaining < MIN_WIDTH_TO_WRAP || /\n[^\S\r\n]/.test(description)
      ? description
      : boxWrap(description, remaining).replace(/\n/g, `\n${' '.repeat(termWidth + SPACER)}`);
  return `${indent}${term.padEnd(termWidth)}${' '.repeat(SPACER)}${formatted.replace(/\n/g, `\n${indent}`)}`;
}

/** The help of the last command in `path` (path[0] is the program), `helpWidth` columns wide. */
export function formatHelp(program: ProgramSpec, path: readonly CommandSpec[], helpWidth: number): string {
  const spec = path[path.length - 1] ?? program;
  const args = (spec.arguments ?? []).map((a) => a.name);
  const usage = ['[options]', ...(spec.commands?.length ? ['[command]'] : []), ...args].join(' ');
  const names = path.map((c, i) => (i === path.length - 1 && c.alias !== undefined ? `${c.name}|${c.alias}` : c.name));

  const describedArguments = (spec.arguments ?? []).some((a) => a.description) ? (spec.arguments ?? []) : [];
  const options = visibleOptions(spec, program);
  const commands = visibleCommands(spec);
  const termWidth = Math.max(0, ...options.map((o) => o.flags.length), ...commands.map((c) => subcommandTerm(c).length), ...describedArguments.map((a) => argumentName(a).length));

  const section = (title: string, items: readonly string[]): string[] => (items.length === 0 ? [] : [title, ...items, '']);
  const output = [`Usage: ${names.join(' ')} ${usage}`, ''];
  if (spec.description) output.push(boxWrap(spec.description, helpWidth), '');
  output.push(...section('Arguments:', describedArguments.map((a) => formatItem(argumentName(a), termWidth, argumentDescription(a), helpWidth))));
  output.push(...section('Options:', options.map((o) => formatItem(o.flags, termWidth, optionDescription(o), helpWidth))));
  output.push(...section('Commands:', commands.map((c) => formatItem(subcommandTerm(c), termWidth, c.description ?? '', helpWidth))));
  return output.join('\n');
}

/**
 * The output for the arguments commander would answer with help or the version and nothing else:
 * `--version`, `--help` and `COMMAND… --help` (-V, -h). Anything else is undefined: commander
 * parses it.
 */
export function quickAnswer(program: ProgramSpec, argv: readonly string[], helpWidth: number, version: () => string): string | undefined {
  if (argv.length !== 1 || (argv[0] !== '--version' && argv[0] !== '-V')) {
    const last = argv[argv.length - 1];
    if (last !== '--help' && last !== '-h') return undefined;
    const path: CommandSpec[] = [program];
    for (const word of argv.slice(0, -1)) {
      const next = (path[path.length - 1]?.commands ?? []).find((c) => c.name === word || c.alias === word);
      if (!next) return undefined;
      path.push(next);
    }
    return formatHelp(program, path, helpWidth);
  }
  return `${version()}\n`;
}
