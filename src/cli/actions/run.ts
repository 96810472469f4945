import type { Command } from 'commander';
import type { Readable } from 'node:stream';
import type { CliContext } from '../context.js';
import { PolyarchError, archiveLocationFor, formatPlatform, parsePlatformWithNotice, runImage } from '../../index.js';
import { CommandExit } from '../exit-codes.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import { keyValuesOrEnvironment, parseExtraHost, parseNetworkMode, parseVolume, type ProgressMode } from '../option-parsers.js';
import { noticesTo, printJson, printTable } from '../output.js';
import { withProgress } from '../progress-view.js';

export async function runAction(
  context: CliContext,
  location: string,
  command: string[],
  flags: { platform?: string; allPlatforms?: boolean; entrypoint?: string; env?: string[]; user?: string; workdir?: string; volume?: string[]; addHost?: string[]; tty?: boolean; network: string; progress?: ProgressMode },
  cmd: Command,
): Promise<void> {
  const globals = globalsOf(cmd);
  if (flags.platform !== undefined && flags.allPlatforms) throw new PolyarchError('USAGE', '--platform and --all-platforms exclude each other');
  if (flags.tty) throw new PolyarchError('USAGE', '-t (--tty): polyarch run gives the command pipes, not a terminal; leave out -t (for a shell that prompts, run sh -i)');
  const network = parseNetworkMode(flags.network);
  const stdin = context.stdin as Readable;
  let results;
  try {
    const platform = flags.platform !== undefined ? parsePlatformWithNotice(flags.platform, noticesTo(context.stderr, globals.quiet)) : undefined;
    // A plain path to an archive or a layout reads as inspect reads it.
    const archive = await archiveLocationFor(location);
    results = await withProgress(flags.progress, { stderr: context.stderr, summary: false, offTerminal: 'quiet', ...(globals.quiet ? { quiet: true } : {}) }, (view) =>
      runImage({
        location: archive ?? location,
        ...connectionOptions(globals, context.signal),
        ...(platform ? { platform } : {}),
        ...(flags.allPlatforms ? { allPlatforms: true } : { stdin, stdout: process.stdout, stderr: process.stderr, ...(context.passSignals ? { passSignals: context.passSignals } : {}) }),
        ...(command.length > 0 ? { command } : {}),
        // docker run --entrypoint takes one program; "" leaves none.
        ...(flags.entrypoint !== undefined ? { entrypoint: flags.entrypoint === '' ? [] : [flags.entrypoint] } : {}),
        ...(flags.env ? { env: keyValuesOrEnvironment(flags.env, '--env') } : {}),
        ...(flags.user !== undefined ? { user: flags.user } : {}),
        ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
        ...(flags.volume ? { volumes: flags.volume.map(parseVolume) } : {}),
        ...(flags.addHost ? { extraHosts: flags.addHost.map(parseExtraHost) } : {}),
        network,
        ...(view.onTransfer ? { onProgress: view.onTransfer } : {}),
      }),
    );
  } finally {
    stdin.unpipe();
    stdin.pause();
  }
  if (flags.allPlatforms) {
    if (globals.json) printJson(results.map((r) => ({ platform: formatPlatform(r.platform), exitCode: r.exitCode, firstLine: r.firstLine ?? '', ...(r.error !== undefined ? { error: r.error } : {}) })), context.stdout);
    else printTable(['PLATFORM', 'EXIT', 'OUTPUT'], results.map((r) => [formatPlatform(r.platform), String(r.exitCode), cell(r.error !== undefined ? `error: ${r.error}` : (r.firstLine ?? ''))]), context.stdout);
    if (results.some((r) => r.exitCode !== 0)) throw new CommandExit(1);
    return;
  }
  const exitCode = results[0]?.exitCode ?? 1;
  if (exitCode !== 0) throw new CommandExit(exitCode);
}

/** Most of a first line the table shows (--json has it whole): a row stays a row on a terminal. */
const MAX_CELL = 200;

function cell(text: string): string {
  return text.length > MAX_CELL ? `${text.slice(0, MAX_CELL - 1)}…` : text;
}
