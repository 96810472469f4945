// `polyarch run IMAGE ls -la`: as with `docker run`, everything after the image belongs to the
// command run inside it, options included. commander would read `-la` as one of polyarch's own
// options, so for a command that takes its arguments this way, a `--` is put after the image
// before commander sees the words.
import type { CommandSpec, OptionSpec, ProgramSpec } from './command-spec.js';

/** Whether an option written as `word` (no `=value`) takes the next word as its value. */
function takesValue(options: readonly OptionSpec[], word: string): boolean {
  const option = options.find((o) => o.flags.split(/[ ,]+/).includes(word));
  return option !== undefined && option.flags.includes('<');
}

/** The index of the first word that is not an option or an option's value, from `start`; -1 after a `--` or at the end. */
function firstOperand(argv: readonly string[], start: number, options: readonly OptionSpec[]): number {
  for (let i = start; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') return -1;
    if (!word.startsWith('-') || word === '-') return i;
    if (!word.includes('=') && takesValue(options, word)) i++;
  }
  return -1;
}

/** `argv` with `--` after the image of a command whose spec says `commandAfterImage`; otherwise unchanged. */
export function separateCommandAfterImage(program: ProgramSpec, argv: readonly string[]): readonly string[] {
  const globals = program.options ?? [];
  const at = firstOperand(argv, 0, globals);
  const command: CommandSpec | undefined = at < 0 ? undefined : program.commands.find((c) => c.name === argv[at] || c.alias === argv[at]);
  if (!command?.commandAfterImage) return argv;
  const image = firstOperand(argv, at + 1, [...globals, ...(command.options ?? [])]);
  if (image < 0 || image + 1 >= argv.length || argv[image + 1] === '--') return argv;
  return [...argv.slice(0, image + 1), '--', ...argv.slice(image + 1)];
}
