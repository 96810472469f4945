#!/usr/bin/env node
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import type { CliContext } from './context.js';
import { PolyarchError, hintFor, isPolyarchError } from '../index.js';
import { registerBinfmt } from './commands/binfmt.js';
import { registerRun } from './commands/run.js';
import { registerBuild } from './commands/build.js';
import { registerPrune } from './commands/prune.js';
import { registerCopy } from './commands/copy.js';
import { registerExplain } from './commands/explain.js';
import { registerIndexCreate } from './commands/index-create.js';
import { registerManifest } from './commands/manifest.js';
import { registerServe } from './commands/serve.js';
import { registerInspect } from './commands/inspect.js';
import { registerList } from './commands/list.js';
import { registerLogin } from './commands/login.js';
import { CommandExit, EXIT_CODES, EXIT_FAILURE, EXIT_OK, exitCodeFor } from './exit-codes.js';
import { escapeControl, terminalSafe } from './output.js';
import { addGlobalOptions } from './global-options.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function buildProgram(context: CliContext): Command {
  const program = new Command('polyarch')
    .description('multi-architecture container images without a Docker daemon')
    .version(packageVersion())
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => context.stdout.write(s), writeErr: () => undefined });
  addGlobalOptions(program);
  registerLogin(program, context);
  registerInspect(program, context);
  registerCopy(program, context);
  registerList(program, context);
  registerManifest(program, context);
  registerIndexCreate(program, context);
  registerExplain(program, context);
  registerServe(program, context);
  registerBuild(program, context);
  registerPrune(program, context);
  registerBinfmt(program, context);
  registerRun(program, context);
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const command of all(program).slice(1)) command.exitOverride().configureOutput({ writeOut: (s) => context.stdout.write(s), writeErr: () => undefined });
  return program;
}

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
  const hint = hintFor(error.code);
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

async function runCli(argv: readonly string[], context: CliContext): Promise<number> {
  const program = buildProgram(context);
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (thrown) {
    if (thrown instanceof CommandExit) return thrown.exitCode;
    let error: PolyarchError;
    if (thrown instanceof CommanderError) {
      if (thrown.code === 'commander.helpDisplayed' || thrown.code === 'commander.version' || thrown.exitCode === 0) return EXIT_OK;
      // commander puts its "(Did you mean …?)" on a second line; ours is one line.
      error = new PolyarchError('USAGE', thrown.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' '));
    } else if (context.signal.aborted) {
      error = new PolyarchError('INTERRUPTED', 'interrupted', { cause: thrown });
    } else {
      error = codedError(thrown);
    }
    context.stderr.write(describeError(error, debug));
    return exitCodeFor(error);
  }
}

/**
 * A reader that goes away (`polyarch tags … | head -1`) is not a failure: stop quietly with the
 * exit code of OUTPUT_CLOSED (0, as most tools that ignore SIGPIPE do). stderr failing has no one
 * left to tell, so it is ignored and the command ends with its own exit code.
 */
function handleClosedOutput(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    process.exit(error.code === 'EPIPE' ? exitCodeFor(new PolyarchError('OUTPUT_CLOSED', 'standard output was closed')) : EXIT_FAILURE);
  });
  process.stderr.on('error', () => undefined);
}

/** 128 + SIGTERM. */
const EXIT_TERMINATED = 143;

async function main(): Promise<void> {
  handleClosedOutput();
  const controller = new AbortController();
  // One signal is shared by every request in flight; each adds a listener while it runs.
  setMaxListeners(0, controller.signal);
  let interrupts = 0;
  // SIGTERM (a supervisor, `timeout`, `kill`) unwinds like Ctrl-C, so temporary roots and files
  // are removed; it then exits 143 as a process killed by it would report.
  let terminated = false;
  const stop = (signal: 'SIGINT' | 'SIGTERM'): void => {
    interrupts++;
    terminated ||= signal === 'SIGTERM';
    if (interrupts > 1) process.exit(terminated ? EXIT_TERMINATED : EXIT_CODES.INTERRUPTED);
    controller.abort(new PolyarchError('INTERRUPTED', signal === 'SIGTERM' ? 'terminated' : 'interrupted'));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  const code = await runCli(process.argv.slice(2), {
    signal: controller.signal,
    stdout: terminalSafe(process.stdout),
    stderr: terminalSafe(process.stderr),
    stdin: process.stdin,
  });
  // Once an interrupted command has unwound, stop: a stalled connection must not keep the process
  // waiting for its timeout (stdout and stderr are synchronous for files, pipes and terminals).
  if (controller.signal.aborted) process.exit(terminated ? EXIT_TERMINATED : code);
  process.exitCode = code;
}

await main();
