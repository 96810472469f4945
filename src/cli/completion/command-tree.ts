// The command definitions flattened into what a shell completes: for each command path
// ('' for the program, 'manifest create' for a sub-command), its sub-commands, its options
// (with whether they take a value, and the values they accept) and the values of its first argument.
import type { CommandSpec, OptionSpec, ProgramSpec } from '../command-spec.js';
import { PROGRESS_MODES } from '../option-parsers.js';

export interface CompletionOption {
  /** `-t`, `--tag` */
  readonly names: readonly string[];
  readonly takesValue: boolean;
  /** The values it accepts, when they are a fixed list. */
  readonly choices?: readonly string[];
  readonly description: string;
}

export interface CompletionCommand {
  readonly name: string;
  readonly alias?: string;
  readonly description: string;
}

export interface CompletionNode {
  /** Command names from the program down, space-separated; '' for the program. */
  readonly path: string;
  readonly subcommands: readonly CompletionCommand[];
  /** Its own options, the program's (commander takes them anywhere) and --help. */
  readonly options: readonly CompletionOption[];
  /** Values of its arguments, when they are a fixed list. */
  readonly argumentChoices?: readonly string[];
}

const HELP: CompletionOption = { names: ['-h', '--help'], takesValue: false, description: 'display help for command' };

/** Words the generated scripts embed unquoted: command names and flags only ever look like this. */
const SAFE_WORD = /^-{0,2}[A-Za-z0-9][A-Za-z0-9-]*$/;

function safe(word: string): string {
  if (!SAFE_WORD.test(word)) throw new Error(`command definition word ${JSON.stringify(word)} cannot go into a completion script`);
  return word;
}

function optionOf(spec: OptionSpec): CompletionOption {
  const head = spec.flags.split(/\s+[<[]/)[0] ?? spec.flags;
  const names = head.split(/[,\s]+/).filter((n) => n !== '').map(safe);
  const choices = spec.choices ?? (spec.parse?.kind === 'progress-mode' ? PROGRESS_MODES : undefined);
  return { names, takesValue: /[<[]/.test(spec.flags), ...(choices ? { choices: choices.map(safe) } : {}), description: spec.description };
}

export function completionTree(program: ProgramSpec): CompletionNode[] {
  const globals = (program.options ?? []).map(optionOf);
  const version = optionOf(program.versionOption);
  const nodes: CompletionNode[] = [];
  const visit = (spec: CommandSpec, path: string, isProgram: boolean): void => {
    const own = isProgram ? [] : (spec.options ?? []).map(optionOf);
    const choices = (spec.arguments ?? []).flatMap((argument) => argument.choices ?? []).map(safe);
    nodes.push({
      path,
      subcommands: (spec.commands ?? []).map((sub) => ({
        name: safe(sub.name),
        ...(sub.alias !== undefined ? { alias: safe(sub.alias) } : {}),
        description: sub.description ?? '',
      })),
      options: [...own, ...globals, HELP, ...(isProgram ? [version] : [])],
      ...(choices.length > 0 ? { argumentChoices: choices } : {}),
    });
    for (const sub of spec.commands ?? []) visit(sub, path === '' ? sub.name : `${path} ${sub.name}`, false);
  };
  visit(program, '', true);
  return nodes;
}

/** A word single-quoted for bash and zsh alike. */
export function shellQuoted(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The lookup tables the bash and zsh scripts hold, as key/value pairs. Keys start with '.'
 * ('.' is the program, '.manifest create' a sub-command; bash refuses an empty key):
 * `subs` a path's sub-commands and aliases, `aliases` 'path|alias' → name, `opts` a path's
 * option names, `takes` 'path|option' for options that take a value, `choices` 'path|option'
 * (or 'path|' for the first argument) → the values accepted.
 */
export interface CompletionTables {
  readonly subs: readonly (readonly [string, string])[];
  readonly aliases: readonly (readonly [string, string])[];
  readonly opts: readonly (readonly [string, string])[];
  readonly takes: readonly (readonly [string, string])[];
  readonly choices: readonly (readonly [string, string])[];
}

export function completionTables(nodes: readonly CompletionNode[]): CompletionTables {
  const subs: [string, string][] = [];
  const aliases: [string, string][] = [];
  const opts: [string, string][] = [];
  const takes: [string, string][] = [];
  const choices: [string, string][] = [];
  for (const node of nodes) {
    const key = `.${node.path}`;
    if (node.subcommands.length > 0) subs.push([key, node.subcommands.flatMap((c) => [c.name, ...(c.alias ? [c.alias] : [])]).join(' ')]);
    for (const sub of node.subcommands) if (sub.alias) aliases.push([`${key}|${sub.alias}`, sub.name]);
    opts.push([key, node.options.flatMap((o) => o.names).join(' ')]);
    for (const option of node.options) {
      if (!option.takesValue) continue;
      for (const name of option.names) {
        takes.push([`${key}|${name}`, '1']);
        if (option.choices) choices.push([`${key}|${name}`, option.choices.join(' ')]);
      }
    }
    if (node.argumentChoices) choices.push([`${key}|`, node.argumentChoices.join(' ')]);
  }
  return { subs, aliases, opts, takes, choices };
}
