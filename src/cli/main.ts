#!/usr/bin/env node
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import type { CliContext } from './context.js';
import { PolyarchError, hintFor, isPolyarchError } from '../index.js';
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
import { EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, exitCodeFor } from './exit-codes.js';
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
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const command of all(program).slice(1)) command.exitOverride().configureOutput({ writeOut: (s) => context.stdout.write(s), writeErr: () => undefined });
  return program;
}

/** One line for the user; the cause chain only with --debug. */
function describeError(error: unknown, debug: boolean): string {
  const lines: string[] = [];
  if (isPolyarchError(error)) {
    lines.push(`polyarch: ${error.message} [${error.code}]`);
    const hint = hintFor(error.code);
    if (hint) lines.push(`hint: ${hint}`);
  } else if (error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && (error as NodeJS.ErrnoException).syscall) {
    const e = error as NodeJS.ErrnoException;
    lines.push(`polyarch: ${e.message.replace(/^\w+: /, '')} [${e.code === 'ENOENT' ? 'NOT_FOUND' : 'UNKNOWN'}]`);
  } else {
    lines.push(`polyarch: ${error instanceof Error ? error.message : String(error)} [UNKNOWN]`);
  }
  if (debug) {
    let cause: unknown = error;
    while (cause instanceof Error) {
      lines.push(`  ${cause.stack ?? cause.message}`);
      cause = cause.cause;
    }
  }
  return `${lines.map((l) => l.replace(/\r?\n/g, ' ')).join('\n')}\n`;
}

async function runCli(argv: readonly string[], context: CliContext): Promise<number> {
  const program = buildProgram(context);
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0) return EXIT_OK;
      context.stderr.write(describeError(new PolyarchError('USAGE', error.message.replace(/^error: /, '')), debug));
      return EXIT_BAD_INPUT;
    }
    if (context.signal.aborted) {
      context.stderr.write('polyarch: interrupted\n');
      return EXIT_INTERRUPTED;
    }
    context.stderr.write(describeError(error, debug));
    return exitCodeFor(error);
  }
}

async function main(): Promise<void> {
  const controller = new AbortController();
  // One signal is shared by every request in flight; each adds a listener while it runs.
  setMaxListeners(0, controller.signal);
  let interrupts = 0;
  process.on('SIGINT', () => {
    interrupts++;
    if (interrupts > 1) process.exit(EXIT_INTERRUPTED);
    controller.abort(new PolyarchError('UNKNOWN', 'interrupted'));
  });
  const code = await runCli(process.argv.slice(2), {
    signal: controller.signal,
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
  });
  process.exitCode = code;
}

await main();
