// `--progress=tty`: one line per blob in flight (blob, bar, bytes, rate) redrawn in place by
// log-update, which also hides the cursor while drawing and shows it again on exit, even an
// interrupted one. Finished blobs and build steps are written above the lines in flight and stay;
// a summary line ends a successful run. Loaded only when a terminal shows progress.
import { createLogUpdate } from 'log-update';
import type { BuildProgress, TransferProgress } from '../index.js';
import { printBuildProgress } from './build-progress.js';
import { escapeControl, formatSize } from './output.js';
import { blobLabel, finishedText, seconds, transferKey, type ProgressTerminal, type ProgressView } from './progress-view.js';

/** Redraws at most this often, however many blobs report. */
const REDRAW_MS = 100;
const BAR_WIDTH = 16;

interface InFlight {
  event: TransferProgress;
  readonly started: number;
}

function bar(transferred: number, total: number | undefined): string {
  if (total === undefined || total <= 0) return '';
  const filled = Math.min(BAR_WIDTH, Math.floor((transferred / total) * BAR_WIDTH));
  const head = filled < BAR_WIDTH ? '>' : '';
  return `[${'='.repeat(filled)}${head}${' '.repeat(Math.max(0, BAR_WIDTH - filled - head.length))}] `;
}

function rate(bytes: number, ms: number): string {
  return ms > 0 ? `${formatSize(Math.round((bytes * 1000) / ms))}/s` : '';
}

/** `copy sha256:… linux/arm64 [=====>   ] 2.10 MB / 8.39 MB 4.20 MB/s`; without the bar when the terminal is too narrow for it. */
function inFlightLine(blob: InFlight, now: number, columns: number | undefined): string {
  const { event } = blob;
  const sizes = event.total !== undefined ? `${formatSize(event.transferred)} / ${formatSize(event.total)}` : formatSize(event.transferred);
  const numbers = `${sizes} ${rate(event.transferred, now - blob.started)}`.trimEnd();
  const full = `${blobLabel(event)} ${bar(event.transferred, event.total)}${numbers}`;
  return fit(full.length <= widthOf(columns) ? full : `${blobLabel(event)} ${numbers}`, columns);
}

function widthOf(columns: number | undefined): number {
  return Math.max(20, (columns || 80) - 1);
}

/** A line cut to the terminal's width, so each blob stays one line however narrow it is. */
function fit(text: string, columns: number | undefined): string {
  const width = widthOf(columns);
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/**
 * The terminal as log-update sees it: a pseudo-terminal nobody sized (`script` without a
 * terminal around it) reports 0 rows and columns, and log-update would then draw nothing.
 */
function sized(terminal: ProgressTerminal): NodeJS.WriteStream {
  return {
    isTTY: true,
    get columns() {
      return terminal.columns || 80;
    },
    get rows() {
      return terminal.rows || 24;
    },
    write: (chunk: string) => terminal.write(chunk),
  } as unknown as NodeJS.WriteStream;
}

export function terminalView(terminal: ProgressTerminal, options: { summary: boolean }): ProgressView {
  const log = createLogUpdate(sized(terminal));
  const inFlight = new Map<string, InFlight>();
  const began = Date.now();
  const tally = { copied: 0, bytes: 0, mounted: 0, skipped: 0, cached: 0 };
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const draw = (): void => {
    timer = undefined;
    const now = Date.now();
    const lines = [...inFlight.values()].map((blob) => inFlightLine(blob, now, terminal.columns));
    if (lines.length === 0) log.clear();
    else log(lines.join('\n'));
  };
  const redrawSoon = (): void => {
    if (closed || timer) return;
    timer = setTimeout(draw, REDRAW_MS);
    timer.unref();
  };
  /** A line that stays, written above the blobs in flight. */
  const keep = (text: string): void => {
    log.persist(fit(text, terminal.columns));
    if (inFlight.size > 0) draw();
  };

  const onTransfer = (event: TransferProgress): void => {
    if (closed) return;
    const key = transferKey(event);
    if (event.state === 'done') {
      const blob = inFlight.get(key);
      inFlight.delete(key);
      if (event.outcome === 'mounted') tally.mounted++;
      else if (event.outcome === 'skipped') tally.skipped++;
      else if (event.outcome === 'cached') tally.cached++;
      else {
        tally.copied++;
        tally.bytes += event.transferred;
      }
      keep(finishedText(event, blob ? Date.now() - blob.started : undefined));
      return;
    }
    const blob = inFlight.get(key);
    if (blob && event.state === 'progress') blob.event = event;
    else inFlight.set(key, { event, started: Date.now() });
    redrawSoon();
  };

  // Build steps and their output print as plain mode prints them, above the blobs in flight.
  const stepLine = printBuildProgress({ write: (chunk) => (keep(String(chunk).replace(/\n$/, '')), true) });
  const onBuild = (event: BuildProgress): void => {
    if (!closed) stepLine(event);
  };

  return {
    mode: 'tty',
    onTransfer,
    onBuild,
    close(succeeded) {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (succeeded) {
        inFlight.clear();
        log.clear();
        const elapsed = Date.now() - began;
        const others = [tally.mounted > 0 ? `${tally.mounted} mounted` : '', tally.skipped > 0 ? `${tally.skipped} already there` : '', tally.cached > 0 ? `${tally.cached} cached` : '']
          .filter(Boolean)
          .join(', ');
        const moved = tally.copied + tally.mounted + tally.skipped + tally.cached;
        if (moved > 0 && options.summary) {
          log.persist(
            escapeControl(
              `${tally.copied} blob${tally.copied === 1 ? '' : 's'} moved (${formatSize(tally.bytes)}) in ${seconds(elapsed)}${tally.copied > 0 ? `, ${rate(tally.bytes, elapsed)}` : ''}${others ? `; ${others}` : ''}`,
            ),
          );
        }
      } else if (inFlight.size > 0) {
        // Stopped: the blobs in flight stay as they stood, and the error line starts below them.
        draw();
      }
      log.done();
    },
  };
}
