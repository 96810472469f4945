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
