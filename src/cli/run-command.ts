// Running a command: commander parses the arguments, the command's implementation is loaded,
// and whatever it throws becomes one line on stderr and an exit code.
import { CommanderError } from 'commander';
import { PolyarchError, hintFor, isPolyarchError } from '../index.js';
import type { ProgramSpec } from './command-spec.js';
import { separateCommandAfterImage } from './command-after-image.js';
import { buildProgram } from './commander-program.js';
import type { CliContext } from './context.js';
import { CommandExit, EXIT_OK, exitCodeFor } from './exit-codes.js';
import { escapeControl } from './output.js';

/** Any thrown value as a coded error: Node's own errors get the code that says what happened. */
function codedError(error: unknown): PolyarchError {
  if (isPolyarchError(error)) return error;
  const errno = error instanceof Error ? (error as NodeJS.ErrnoException) : undefined;
  if (errno && typeof errno.code === 'string' && errno.syscall) {
    const code = errno.code === 'ENOENT' ? 'NOT_FOUND' : errno.code === 'EADDRINUSE' ? 'ADDRESS_IN_USE' : 'UNKNOWN';
    return new PolyarchError(code, errno.message.replace(/^\w+: /, ''), { cause: error });
  }
  return new PolyarchError('UNKNOWN', error instanceof Error ? error.message : String(error), { cause: error });
}

/**
 * One line for the user; the cause chain only with --debug. Messages quote what the user gave
 * and what registries and images hold, so every line is escaped: a line feed in a tag cannot
 * forge a second line, and no escape sequence reaches the terminal.
 */
function describeError(error: PolyarchError, debug: boolean): string {
  const lines = [`polyarch: ${escapeControl(error.message)} [${error.code}]`];
  const hint = error.hint ?? hintFor(error.code);
  if (hint) lines.push(`hint: ${hint}`);
  if (debug) {
    let cause: unknown = error;
    while (cause instanceof Error) {
      for (const text of (cause.stack ?? cause.message).split('\n')) lines.push(`  ${escapeControl(text)}`);
      cause = cause.cause;
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function runCli(spec: ProgramSpec, version: string, argv: readonly string[], context: CliContext): Promise<number> {
  const program = buildProgram(spec, version, context);
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync([...separateCommandAfterImage(spec, argv)], { from: 'user' });
    return EXIT_OK;
  } catch (thrown) {
    if (thrown instanceof CommandExit) return thrown.exitCode;
    let error: PolyarchError;
    if (thrown instanceof CommanderError) {
      if (thrown.code === 'commander.helpDisplayed' || thrown.code === 'commander.version' || thrown.exitCode === 0) return EXIT_OK;
      // commander puts its "(Did you mean …?)" on a second line; ours is one line.
      error = new PolyarchError('USAGE', thrown.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' '));
    } else if (context.signal.aborted) {
      // The signal's own words: "terminated" for SIGTERM, "interrupted" for Ctrl-C.
      const reason: unknown = context.signal.reason;
      error = new PolyarchError('INTERRUPTED', isPolyarchError(reason) ? reason.message : 'interrupted', { cause: thrown });
    } else {
      error = codedError(thrown);
    }
    context.stderr.write(describeError(error, debug));
    return exitCodeFor(error);
  }
}

/** The exit code for a reader that went away (EPIPE): OUTPUT_CLOSED's. */
export function closedOutputExitCode(): number {
  return exitCodeFor(outputClosed());
}

/** The reason a command is aborted with when its standard output goes away. */
export function outputClosed(): PolyarchError {
  return new PolyarchError('OUTPUT_CLOSED', 'standard output was closed');
}

/** The reason a command is aborted with when the process gets SIGINT (Ctrl-C) or SIGTERM. */
export function interruptionBy(signal: 'SIGINT' | 'SIGTERM'): PolyarchError {
  return new PolyarchError('INTERRUPTED', signal === 'SIGTERM' ? 'terminated' : 'interrupted');
}
