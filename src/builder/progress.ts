// What a build reports while it runs (BuildOptions.onProgress): each instruction as it starts, each
// line a RUN step prints, steps reused from the cache, and notices. One platform's events come in
// the order its steps run; platforms build side by side, so theirs interleave, one whole event at
// a time. The listener is called synchronously and should return quickly: a step's output waits.
import type { Platform } from '../platform/platform.js';
import { meterTransfer, type TransferListener } from '../progress/transfer.js';

/** One instruction of one stage, on one platform's build: where an event comes from. */
export interface BuildStep {
  /** The platform being built (a `FROM --platform` stage runs on its own, but is part of this one's build). */
  readonly platform: Platform;
  /**
   * The stage's name, or `stage-N` (N counting from 0) for an unnamed stage when the Dockerfile
   * has several; absent when it has one. As buildx names them.
   */
  readonly stage?: string;
  /** The instruction's number within its stage, from 1 (buildx's `3/5`). */
  readonly number: number;
  /**
   * How many numbered instructions the stage has. As buildx counts: FROM of an image (not of
   * scratch or an earlier stage), RUN, COPY, ADD and WORKDIR, and the base's ONBUILD triggers.
   */
  readonly total: number;
  /** The instruction as written, flags included (`RUN --network=none make`); FROM names the image with variables substituted. */
  readonly instruction: string;
}

export type BuildProgress =
  /** The instruction starts. */
  | { readonly kind: 'step'; readonly step: BuildStep }
  /** The instruction's result came from the build cache: nothing ran. */
  | { readonly kind: 'cached'; readonly step: BuildStep }
  /** One line a RUN step wrote, without its line feed (very long lines come in pieces). */
  | { readonly kind: 'output'; readonly step: BuildStep; readonly stream: 'stdout' | 'stderr'; readonly line: string }
  /** Something the user should know that does not stop the build (a device file left out of a layer). */
  | { readonly kind: 'notice'; readonly step: BuildStep; readonly message: string };

/** Hears each build step as it starts, each line a RUN step prints, and notices. */
export type ProgressListener = (event: BuildProgress) => void;

/** The events an instruction reports, bound to its step. */
export interface StepProgress {
  /** The result was taken from the cache; call it instead of running the step. */
  cached(): void;
  notice(message: string): void;
  output(stream: 'stdout' | 'stderr', line: string): void;
}

/** Reports nothing: for work outside a numbered step, and builds nobody listens to. */
export const SILENT_PROGRESS: StepProgress = { cached: () => undefined, notice: () => undefined, output: () => undefined };

/** The reporter for `step`, calling `listener` for each event. */
export function stepProgress(listener: ProgressListener | undefined, step: BuildStep): StepProgress {
  if (!listener) return SILENT_PROGRESS;
  return {
    cached: () => listener({ kind: 'cached', step }),
    notice: (message) => listener({ kind: 'notice', step, message }),
    output: (stream, line) => listener({ kind: 'output', step, stream, line }),
  };
}

/**
 * An instruction as a step shows it: keyword, flags and text on one line. A here-document shows its
 * first line in parentheses, as buildx does (`RUN <<EOF (apt-get update...)`).
 */
export function describeInstruction(keyword: string, flags: ReadonlyMap<string, readonly string[]>, text: string): string {
  const flagText = flagWords(flags);
  const [first = '', next, ...more] = text.split('\n');
  const shown = next === undefined ? first : `${first} (${next}${more.length > 1 ? '...' : ''})`;
  return [keyword, ...flagText, shown].join(' ');
}

/** Each flag as written (`--chmod=755`, `--link`), every value of a repeated one. */
export function flagWords(flags: ReadonlyMap<string, readonly string[]>): string[] {
  return [...flags].flatMap(([name, values]) => values.map((v) => (v === '' ? `--${name}` : `--${name}=${v}`)));
}

/**
 * Writes a layer with its compressed bytes reported as they are written (phase `compress`), when
 * someone listens. The layer is named by `file` (a unique temporary name) until done reports its
 * digest.
 */
export async function compressReported<T extends { readonly descriptor: { readonly digest: string } }>(
  listener: TransferListener | undefined,
  platform: Platform,
  file: string,
  write: (onBytes: ((bytes: number) => void) | undefined) => Promise<T>,
): Promise<T> {
  if (!listener) return write(undefined);
  const meter = meterTransfer(listener, { phase: 'compress', digest: file.slice(file.lastIndexOf('/') + 1).replace(/^\./, '').replace(/\.[a-z-]+$/, ''), platform });
  meter.start();
  try {
    const written = await write((bytes) => meter.add(bytes));
    meter.done('copied', written.descriptor.digest);
    return written;
  } catch (error) {
    meter.cancel();
    throw error;
  }
}
