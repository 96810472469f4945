import type { OptionSpec } from '../command-spec.js';

/** `--progress` for every command that moves blobs (progress-view.ts). */
export const PROGRESS_OPTION: OptionSpec = {
  flags: '--progress <mode>',
  description: 'auto (tty on a terminal, else plain), tty (a line per blob in flight, redrawn), plain (a line per finished blob) or quiet; on stderr (default auto, quiet with --quiet)',
  parse: { kind: 'progress-mode' },
};
