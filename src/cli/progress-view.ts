// How the CLI shows progress on stderr (`--progress auto|tty|plain|quiet`), as buildx and docker
// do: on a terminal, one line per blob in flight redrawn in place and a summary when done
// (progress-tty.ts, loaded only then); otherwise one line per finished blob or build step, fit for
// CI logs; or nothing. stdout stays the command's data.
import { formatPlatform, type ProgressListener, type TransferListener, type TransferProgress } from '../index.js';
import { printBuildProgress } from './build-progress.js';
import type { ProgressMode } from './option-parsers.js';
import { escapeControl, formatSize, type OutputStream } from './output.js';

/** What a command hands the library, and ends when it is done. */
export interface ProgressView {
  readonly mode: 'tty' | 'plain' | 'quiet';
  /** Bytes on the move; absent when nothing is shown. */
  readonly onTransfer?: TransferListener;
  /** A build's steps and their output; absent when nothing is shown. */
  readonly onBuild?: ProgressListener;
  /**
   * Ends the display: the terminal is left with the cursor shown and its last line ended, and a
   * summary when the command `succeeded` (an interrupted one keeps its lines as they stood).
   */
  close(succeeded: boolean): void;
}

/** The terminal the tty mode draws on: process.stderr, written raw (the view escapes what it shows itself). */
export interface ProgressTerminal {
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
  write(chunk: string): boolean;
}

export interface ProgressWhere {
  /** Escaped stderr, for plain lines. */
  readonly stderr: OutputStream;
  readonly terminal: ProgressTerminal;
  /** `--quiet` given: no progress unless a mode is named. */
  readonly quiet?: boolean;
  /** The environment, for TERM=dumb. */
  readonly env?: NodeJS.ProcessEnv;
  /** A summary line when done (default); `run` has none: its command's output comes after the pulls. */
  readonly summary?: boolean;
  /**
   * What auto means off a terminal: plain (default), or quiet for `run`, whose stderr is its
   * command's own and must stay exactly that when piped.
   */
  readonly offTerminal?: 'plain' | 'quiet';
}

/** auto is tty when stderr is a terminal that can move its cursor, plain (or `offTerminal`) otherwise; --quiet means quiet. */
export function resolveProgressMode(mode: ProgressMode | undefined, where: ProgressWhere): 'tty' | 'plain' | 'quiet' {
  const chosen = mode ?? (where.quiet ? 'quiet' : 'auto');
  if (chosen !== 'auto') return chosen;
  return where.terminal.isTTY && (where.env ?? process.env).TERM !== 'dumb' ? 'tty' : (where.offTerminal ?? 'plain');
}

const QUIET: ProgressView = { mode: 'quiet', close: () => undefined };

/** The view for `mode`; the terminal library is imported only for tty. */
export async function openProgressView(mode: ProgressMode | undefined, where: ProgressWhere): Promise<ProgressView> {
  const resolved = resolveProgressMode(mode, where);
  if (resolved === 'quiet') return QUIET;
  if (resolved === 'plain') return plainView(where.stderr);
  const { terminalView } = await import('./progress-tty.js');
  return terminalView(where.terminal, { summary: where.summary !== false });
}

/** `sha256:0123456789ab`: the digest as docker and buildx shorten it (a layer still being compressed shows its stand-in name). */
export function shortBlob(digest: string): string {
  const colon = digest.indexOf(':');
  return colon < 0 ? digest : digest.slice(0, colon + 13);
}

/** `copy sha256:0123456789ab linux/arm64`: the blob an event is about, escaped (platforms come from images). */
export function blobLabel(event: TransferProgress): string {
  return escapeControl(`${event.phase} ${shortBlob(event.digest)}${event.platform ? ` ${formatPlatform(event.platform)}` : ''}`);
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** What a finished blob shows: `… 12.3 MB done 0.4s`, `… mounted`, `… already there`. */
export function finishedText(event: TransferProgress, elapsedMs: number | undefined): string {
  switch (event.outcome) {
    case 'mounted':
      return `${blobLabel(event)} mounted`;
    case 'skipped':
      return `${blobLabel(event)} already there`;
    case 'cached':
      return `${blobLabel(event)} cached`;
    default:
      return `${blobLabel(event)} ${formatSize(event.transferred)} done${elapsedMs !== undefined ? ` ${seconds(elapsedMs)}` : ''}`;
  }
}

/** Identifies one blob's reports among those in flight. */
export function transferKey(event: TransferProgress): string {
  return `${event.phase} ${event.id} ${event.platform ? formatPlatform(event.platform) : ''}`;
}

/** One line per finished blob, and build steps as `build --progress=plain` prints them. */
function plainView(stderr: OutputStream): ProgressView {
  const started = new Map<string, number>();
  return {
    mode: 'plain',
    onTransfer(event) {
      const key = transferKey(event);
      if (event.state === 'start') started.set(key, Date.now());
      if (event.state !== 'done') return;
      const since = started.get(key);
      started.delete(key);
      stderr.write(`${finishedText(event, since === undefined ? undefined : Date.now() - since)}\n`);
    },
    onBuild: printBuildProgress(stderr),
    close: () => undefined,
  };
}

/**
 * Runs `work` with the view `mode` gives on process.stderr, and ends the view whatever happens:
 * with a summary on success, and on failure or Ctrl-C with the terminal left clean before the
 * error line is printed.
 */
export async function withProgress<T>(mode: ProgressMode | undefined, where: Omit<ProgressWhere, 'terminal'>, work: (view: ProgressView) => Promise<T>): Promise<T> {
  const view = await openProgressView(mode, { ...where, terminal: process.stderr });
  let succeeded = false;
  try {
    const result = await work(view);
    succeeded = true;
    return result;
  } finally {
    view.close(succeeded);
  }
}
