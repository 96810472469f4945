#!/usr/bin/env node
// The entry point loads only the command definitions: `--version` and `--help` are answered from
// them, and commander, the library and a command's implementation load when a command runs.
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import nodeModule from 'node:module';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * A reader that goes away (`polyarch tags … | head -1`) is not a failure: stop quietly with the
 * exit code of OUTPUT_CLOSED (0, as most tools that ignore SIGPIPE do). stderr failing has no one
 * left to tell, so it is ignored and the command ends with its own exit code.
 */
function handleClosedOutput(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    void import('./run-command.js').then(({ closedOutputExitCode }) => process.exit(closedOutputExitCode(error)));
  });
  process.stderr.on('error', () => undefined);
}

/** 128 + SIGTERM. */
const EXIT_TERMINATED = 143;

async function main(): Promise<void> {
  // Node ≥ 22.1 keeps compiled code on disk for the modules a command loads next; older Node lacks it.
  (nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
  handleClosedOutput();
  const argv = process.argv.slice(2);
  // The version needs nothing else loaded; help needs the definitions.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  const [{ POLYARCH }, { quickAnswer }, { terminalSafe }] = await Promise.all([import('./commands/polyarch.js'), import('./help.js'), import('./output.js')]);
  // commander wraps help to the terminal's width, and to 80 columns when it is not a terminal.
  const quick = quickAnswer(POLYARCH, argv, (process.stdout.isTTY ? process.stdout.columns : undefined) ?? 80, packageVersion);
  if (quick !== undefined) {
    process.stdout.write(quick);
    return;
  }
  // Loaded before the signal handlers go in: Ctrl-C while loading stops the process outright.
  const [{ runCli }, { EXIT_CODES }, { PolyarchError }] = await Promise.all([import('./run-command.js'), import('./exit-codes.js'), import('../index.js')]);
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
  const code = await runCli(POLYARCH, packageVersion(), argv, {
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
