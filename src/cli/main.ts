#!/usr/bin/env node
// The entry point loads only the command definitions: `--version` and `--help` are answered from
// them, and commander, the library and a command's implementation load when a command runs.
import { setMaxListeners } from 'node:events';
import { fstatSync, readFileSync, writeSync } from 'node:fs';
import nodeModule from 'node:module';

let version: string | undefined;

/** package.json's version, read once ("unknown" from a copy of the CLI without it, rather than a stack trace). */
function packageVersion(): string {
  if (version === undefined) {
    try {
      version = String((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }).version ?? 'unknown');
    } catch {
      version = 'unknown';
    }
  }
  return version;
}

/**
 * A help or version answer, written straight to file descriptor 1: process.stdout, made on first
 * use, loads the stream, socket and terminal code (for a pipe or a terminal), which costs more
 * than answering. A non-blocking descriptor that is full (EAGAIN) gets the rest through
 * process.stdout, which waits for it; a reader that went away (EPIPE) is not a failure.
 */
function writeAnswer(text: string): void {
  const bytes = Buffer.from(text);
  let at = 0;
  try {
    while (at < bytes.length) at += writeSync(1, bytes, at);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN') process.stdout.write(bytes.subarray(at));
    else if (code !== 'EPIPE') throw error;
  }
}

/** Node ≥ 22.1 keeps compiled code on disk for the modules a command loads next; older Node lacks it, and an unwritable cache directory only turns it off. */
function enableCompileCache(): void {
  try {
    (nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
  } catch {
    // Running without the cache is only slower.
  }
}

/**
 * A reader that goes away (`polyarch tags … | head -1`) is not a failure: stop quietly with the
 * exit code of OUTPUT_CLOSED (0, as most tools that ignore SIGPIPE do). `onClosedOutput` gets that
 * code; until main sets it, the process exits at once. Any other failure to write (a full disk,
 * /dev/full) is one line and exit 1, as coreutils' "write error". stderr failing has no one left to
 * tell, so it is ignored and the command ends with its own exit code.
 */
let onClosedOutput = (code: number): void => process.exit(code);
function handleClosedOutput(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') {
      void import('./load-command-code.js')
        .then(({ loadCommandCode }) => loadCommandCode())
        .then(({ closedOutputExitCode }) => onClosedOutput(closedOutputExitCode()));
      return;
    }
    try {
      writeSync(2, `polyarch: cannot write standard output: ${error.code ?? error.message} [UNKNOWN]\n`);
    } finally {
      process.exit(1);
    }
  });
  process.stderr.on('error', () => undefined);
}

/** How long a command whose output was closed may take to unwind (stop its step, remove its root) before the process exits anyway. */
const CLOSED_OUTPUT_UNWIND_MS = 10_000;

/**
 * commander wraps help to the terminal's width, and to 80 columns when it is not a terminal. Only
 * a character device may be a terminal: for files and pipes the answer is known without making
 * process.stdout (node:tty loads the socket code).
 */
function helpWidth(): number {
  let device = false;
  try {
    device = fstatSync(1).isCharacterDevice();
  } catch {
    // No standard output: nothing will read the width.
  }
  return (device && process.stdout.isTTY ? process.stdout.columns : undefined) ?? 80;
}

/** 128 + SIGTERM. */
const EXIT_TERMINATED = 143;
/** A signal this soon after the first is taken as a copy of it (sent to the process and to its group), not as "stop now". */
const SAME_SIGNAL_MS = 500;

async function main(): Promise<void> {
  enableCompileCache();
  const argv = process.argv.slice(2);
  // The version needs nothing else loaded; help needs the definitions.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    writeAnswer(`${packageVersion()}\n`);
    return;
  }
  const [{ POLYARCH }, { quickAnswer }] = await Promise.all([import('./commands/polyarch.js'), import('./help.js')]);
  const quick = quickAnswer(POLYARCH, argv, helpWidth(), packageVersion);
  if (quick !== undefined) {
    writeAnswer(quick);
    return;
  }
  handleClosedOutput();
  // Loaded before the signal handlers go in: Ctrl-C while loading stops the process outright.
  // The command names the code cache's file: V8 caches the functions a run compiled.
  const word = argv.find((a) => !a.startsWith('-'));
  const command = POLYARCH.commands.find((c) => c.name === word || c.alias === word)?.name;
  const { runCli, interruptionBy, outputClosed, EXIT_CODES, terminalSafe } = await (await import('./load-command-code.js')).loadCommandCode(command);
  const controller = new AbortController();
  // One signal is shared by every request in flight; each adds a listener while it runs.
  setMaxListeners(0, controller.signal);
  // SIGTERM (a supervisor, `timeout`, `kill`) unwinds like Ctrl-C, so temporary roots and files
  // are removed; it then exits 143 as a process killed by it would report. Another signal later
  // stops the process outright. One that comes with the first is the same request: `timeout` and
  // supervisors signal the process and then its whole group, and exiting on that second copy left
  // a RUN step's mounts behind.
  // While `run`'s command runs, the first signal is passed on to it (docker run's sig-proxy): it
  // may stop its own way, and its exit code is polyarch's. One that follows, as another request,
  // unwinds as above, then the next stops the process.
  let firstSignalAt: number | undefined;
  let terminated = false;
  let passTo: ((signal: NodeJS.Signals) => void) | undefined;
  let passed = false;
  let unwinding = false;
  const stop = (signal: 'SIGINT' | 'SIGTERM'): void => {
    const now = performance.now();
    if (firstSignalAt !== undefined && now - firstSignalAt < SAME_SIGNAL_MS) return;
    if (passTo && !passed) {
      passed = true;
      firstSignalAt = now;
      passTo(signal);
      return;
    }
    terminated ||= signal === 'SIGTERM';
    if (!unwinding) {
      unwinding = true;
      firstSignalAt = now;
      controller.abort(interruptionBy(signal));
    } else {
      process.exit(terminated ? EXIT_TERMINATED : EXIT_CODES.INTERRUPTED);
    }
  };
  const passSignals = (deliver: (signal: NodeJS.Signals) => void): (() => void) => {
    passTo = deliver;
    return () => {
      if (passTo === deliver) passTo = undefined;
    };
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // A closed output stops the command as Ctrl-C does, so `polyarch run IMG … | head -1` stops the
  // step and removes its root (exiting at once left both behind); its error line is not shown.
  let closedCode: number | undefined;
  onClosedOutput = (code) => {
    if (closedCode !== undefined) return;
    closedCode = code;
    controller.abort(outputClosed());
    setTimeout(() => process.exit(code), CLOSED_OUTPUT_UNWIND_MS).unref();
  };
  const stderr = terminalSafe(process.stderr);
  const code = await runCli(POLYARCH, packageVersion(), argv, {
    signal: controller.signal,
    stdout: terminalSafe(process.stdout),
    stderr: { write: (chunk) => (closedCode === undefined ? stderr.write(chunk) : true) },
    stdin: process.stdin,
    stdoutStream: process.stdout,
    passSignals,
  });
  if (closedCode !== undefined) process.exit(closedCode);
  // Once an interrupted command has unwound, stop: a stalled connection must not keep the process
  // waiting for its timeout (stdout and stderr are synchronous for files, pipes and terminals).
  if (controller.signal.aborted) process.exit(terminated ? EXIT_TERMINATED : code);
  process.exitCode = code;
}

await main();
