// A command as data: what `--help` prints and what the parser accepts, with no code behind it.
// `polyarch --help` and `polyarch CMD --help` are answered from these alone (help.ts), so they
// load neither the argument parser nor the library; program.ts turns them into commander
// commands, and a command's implementation is imported only when that command runs.
import type { CliContext } from './context.js';

/** How an option's value is read; program.ts maps each kind to its parser (option-parsers.ts). */
export type OptionParser =
  /** A whole number in [min, max]; errors name the option's long flag. */
  | { readonly kind: 'integer'; readonly min: number; readonly max: number }
  /** Repeatable: each occurrence adds one value to a list. */
  | { readonly kind: 'collect' }
  /** `--progress`: auto, tty, plain or quiet. */
  | { readonly kind: 'progress-mode' };

export interface OptionSpec {
  /** As commander takes them: `-t, --tag <ref>`, `--install [platforms]`, `--push`. */
  readonly flags: string;
  readonly description: string;
  readonly parse?: OptionParser;
  readonly default?: string | number;
  /** commander's requiredOption: the option must be given. */
  readonly required?: boolean;
  /** The values it accepts when they are a fixed list (offered by shell completion). */
  readonly choices?: readonly string[];
}

export interface ArgumentSpec {
  /** `<location>`, `[context]`, `<images...>`, `[command...]`. */
  readonly name: string;
  readonly description?: string;
  readonly default?: string;
  /** The values it accepts when they are a fixed list (offered by shell completion). */
  readonly choices?: readonly string[];
}

/** A command's implementation: called with the context, then what commander passes (arguments, flags, the command). */
export type CommandAction = (context: CliContext, ...parsed: never[]) => Promise<void>;

export interface CommandSpec {
  readonly name: string;
  readonly alias?: string;
  readonly description?: string;
  readonly arguments?: readonly ArgumentSpec[];
  readonly options?: readonly OptionSpec[];
  readonly commands?: readonly CommandSpec[];
  /**
   * Every word after the first argument (the image) is the command's own, options included, as
   * `docker run IMAGE ls -la` reads them (command-after-image.ts).
   */
  readonly commandAfterImage?: boolean;
  /** Imports the implementation; called only when the command runs. */
  readonly action?: () => Promise<CommandAction>;
}

/** The program itself: its commands, the options every command takes, and `--version`. */
export interface ProgramSpec extends CommandSpec {
  readonly commands: readonly CommandSpec[];
  readonly versionOption: OptionSpec;
}
