// Progress of bytes on the move: what `copy`, `index create`, `manifest push`, `build` and `run`
// report while blobs are pulled, pushed, copied or compressed. Bytes are counted in the stream as
// they pass, and reports are throttled per blob, so a listener costs a function call per chunk and
// one event per interval, not a copy or a second hash of anything.
import type { Readable } from 'node:stream';
import type { Platform } from '../platform/platform.js';

/** What is happening to the bytes: build's steps report through their own events (builder/progress.ts). */
export type TransferPhase = 'pull' | 'push' | 'copy' | 'compress' | 'extract';

/** How a blob ended: moved byte by byte, mounted from another repository, already there, or taken from a cache. */
export type TransferOutcome = 'copied' | 'mounted' | 'skipped' | 'cached';

/**
 * One report on one blob. A blob's reports come in order: `start` (transferred 0), any number of
 * `progress` (transferred never decreasing), then `done` with the final count. A blob that was
 * not moved (mounted, already there) reports only `done`, with transferred 0. A transfer that is
 * started over after a broken connection reports `start` again.
 */
export interface TransferProgress {
  readonly kind: 'transfer';
  readonly phase: TransferPhase;
  readonly state: 'start' | 'progress' | 'done';
  /** Names the blob across its reports: its digest, or for a layer being compressed a stand-in (its digest is known only when done). */
  readonly id: string;
  /** The blob's digest; while a layer is being compressed, its stand-in name (the done event carries the digest). */
  readonly digest: string;
  /** Bytes moved so far. */
  readonly transferred: number;
  /** The blob's size when known. */
  readonly total?: number;
  /** The platform whose image holds the blob, when one does. */
  readonly platform?: Platform;
  /** On `done`: how the blob ended. */
  readonly outcome?: TransferOutcome;
}

/** Hears the start, the throttled progress and the end of each blob on the move. */
export type TransferListener = (event: TransferProgress) => void;

/** The default: at most one progress report per blob in this many milliseconds (start and done always report). */
export const PROGRESS_INTERVAL_MS = 100;

export interface TransferSubject {
  readonly phase: TransferPhase;
  readonly digest: string;
  readonly total?: number;
  readonly platform?: Platform;
}

/** Counts one blob's bytes and reports them, throttled. */
export interface TransferMeter {
  /** Reports `start` (again, after a restart); the count begins at 0. */
  start(): void;
  /** Adds bytes that moved. */
  add(bytes: number): void;
  /** Counts every chunk `stream` emits, without changing how it flows (see observeBytes). */
  observe(stream: Readable): void;
  /** Reports `done`; `digest` names the blob when it was only known at the end (compression). */
  done(outcome?: TransferOutcome, digest?: string): void;
  /** Stops reporting, with no done: the transfer failed, and the failure is its caller's to report. */
  cancel(): void;
}

/** A meter for one blob, reporting to `listener` at most once per `intervalMs` between start and done. */
export function meterTransfer(listener: TransferListener, subject: TransferSubject, intervalMs: number = PROGRESS_INTERVAL_MS): TransferMeter {
  let transferred = 0;
  let last = 0;
  let finished = false;
  // The count after a burst is reported when the interval is up, even if no more bytes come then
  // (a stalled transfer shows where it stalled).
  let trailing: NodeJS.Timeout | undefined;
  const base = {
    kind: 'transfer' as const,
    phase: subject.phase,
    ...(subject.total !== undefined ? { total: subject.total } : {}),
    ...(subject.platform ? { platform: subject.platform } : {}),
  };
  const report = (state: TransferProgress['state'], extra: { outcome?: TransferOutcome; digest?: string } = {}): void => {
    listener({ ...base, id: subject.digest, digest: extra.digest ?? subject.digest, state, transferred, ...(extra.outcome ? { outcome: extra.outcome } : {}) });
  };
  const reportProgress = (): void => {
    trailing = undefined;
    last = Date.now();
    report('progress');
  };
  const meter: TransferMeter = {
    start() {
      transferred = 0;
      last = Date.now();
      report('start');
    },
    add(bytes) {
      transferred += bytes;
      if (finished || trailing) return;
      const wait = last + intervalMs - Date.now();
      if (wait <= 0) reportProgress();
      else {
        trailing = setTimeout(reportProgress, wait);
        trailing.unref();
      }
    },
    observe(stream) {
      observeBytes(stream, (bytes) => meter.add(bytes));
    },
    done(outcome = 'copied', digest) {
      if (finished) return;
      finished = true;
      clearTimeout(trailing);
      trailing = undefined;
      report('done', { outcome, ...(digest !== undefined ? { digest } : {}) });
    },
    cancel() {
      finished = true;
      clearTimeout(trailing);
      trailing = undefined;
    },
  };
  return meter;
}

/**
 * Calls `count` with the length of every chunk `stream` emits, as its consumer reads it. The
 * stream stays the same object (so a consumer that recognises a verifying stream still skips
 * hashing it again, which a counting Transform in between would defeat). The listener goes in
 * with prependListener, which, unlike on('data'), does not switch the stream to flowing: nothing
 * moves before its consumer is attached, and `data` fires for pipe(), for-await and read() alike.
 */
export function observeBytes(stream: Readable, count: (bytes: number) => void): void {
  stream.prependListener('data', (chunk: Buffer | string) => count(chunk.length));
}

/** `listener`, with `platform` filled in on reports that name none (an image copied by digest, out of its index). */
export function withPlatform(listener: TransferListener, platform: Platform | undefined): TransferListener {
  return platform ? (event) => listener(event.platform ? event : { ...event, platform }) : listener;
}
