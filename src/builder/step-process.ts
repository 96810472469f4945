// A RUN step's process as the build schedules and reports it: it holds one of the build's run slots
// while it runs (steps of every platform share them, so emulated steps do not oversubscribe the
// cores), and what it prints goes out as progress events, one whole line each.
import { Writable } from 'node:stream';
import { LineBuffer } from '../internal/line-buffer.js';
import type { RunResult } from './executor/executor.js';
import type { StepProgress } from './progress.js';
import type { PlatformContext } from './stage.js';

/** One output stream of the step: each chunk to `tail` as it is, and each line to the step's progress. */
class StepOutput extends Writable {
  readonly #lines = new LineBuffer();
  readonly #progress: StepProgress;
  readonly #stream: 'stdout' | 'stderr';
  readonly #tail: Writable;
  /** The listener's first exception: the step's output keeps draining (a stalled pipe would hang the step), and the step fails with it afterwards. */
  failure?: { readonly error: unknown };

  constructor(progress: StepProgress, stream: 'stdout' | 'stderr', tail: Writable) {
    super();
    this.#progress = progress;
    this.#stream = stream;
    this.#tail = tail;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.#tail.write(chunk);
    this.#report(this.#lines.push(chunk));
    done();
  }

  /** Reports the last line when it had no line feed. */
  finish(): void {
    this.#report(this.#lines.end());
  }

  #report(lines: readonly string[]): void {
    if (this.failure) return;
    try {
      for (const line of lines) this.#progress.output(this.#stream, line);
    } catch (error) {
      this.failure = { error };
    }
  }
}

/**
 * Runs the step's process (`start`, given the streams to write its output to) in one of the
 * build's run slots, waiting for a free one first; its output also goes to `tail` unchanged.
 */
export async function runStepProcess(ctx: PlatformContext, tail: Writable, start: (io: { readonly stdout: Writable; readonly stderr: Writable }) => Promise<RunResult>): Promise<RunResult> {
  const stdout = new StepOutput(ctx.progress, 'stdout', tail);
  const stderr = new StepOutput(ctx.progress, 'stderr', tail);
  const result = await ctx.runSlots.use(() => start({ stdout, stderr }), ctx.io.signal);
  stdout.finish();
  stderr.finish();
  const failure = stdout.failure ?? stderr.failure;
  if (failure) throw failure.error;
  return result;
}
