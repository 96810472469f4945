/** What every command gets from main: the abort signal (SIGINT) and where to write. */
export interface CliContext {
  readonly signal: AbortSignal;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
}
