import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { parseByteSize, pruneBuildCache } from '../../index.js';
import { globalsOf } from '../global-options.js';
import { formatSize, printJson } from '../output.js';

export function registerPrune(program: Command, context: CliContext): void {
  program
    .command('prune')
    .description('remove build cache entries ($XDG_CACHE_HOME/polyarch/build): what no build needs, or with --all / --keep-storage also cached layers and base images')
    .option('--all', 'remove every entry')
    .option('--keep-storage <size>', 'keep the most recently used entries up to this size (e.g. 1GB)')
    .action(async (flags: { all?: boolean; keepStorage?: string }, command: Command) => {
      const globals = globalsOf(command);
      const result = await pruneBuildCache({
        signal: context.signal,
        ...(flags.all ? { all: true } : {}),
        ...(flags.keepStorage !== undefined ? { keepStorage: parseByteSize(flags.keepStorage) } : {}),
        ...(globals.quiet ? {} : { onWait: (pids: readonly number[]) => context.stderr.write(`waiting for ${pids.length} build(s) using the cache to finish (pid ${pids.join(', ')})\n`) }),
      });
      if (globals.json) printJson(result, context.stdout);
      else if (!globals.quiet) {
        const entries = result.removed.filter((r) => r.type !== 'blob' && r.type !== 'temp').length;
        const blobs = result.removed.filter((r) => r.type === 'blob').length;
        context.stdout.write(`removed ${entries} cache entries and ${blobs} blobs; freed ${formatSize(result.bytesFreed)}, ${formatSize(result.bytesKept)} kept\n`);
      }
    });
}
