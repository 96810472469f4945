import type { SignalPassing } from '../index.js';
import type { OutputStream } from './output.js';

/** What every command gets from main: the abort signal (SIGINT) and where to write (escaped for a terminal, see output.ts). */
export interface CliContext {
  readonly signal: AbortSignal;
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly stdin: NodeJS.ReadableStream;
  /** Standard output itself, for bytes sent whole and unescaped (an archive with `build -o -`); undefined where there is none. */
  readonly stdoutStream?: NodeJS.WritableStream & { readonly isTTY?: boolean };
  /** Passes the process's SIGINT and SIGTERM on to a command while it runs (`run`), instead of stopping polyarch. */
  readonly passSignals?: SignalPassing;
}
