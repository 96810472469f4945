import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { parseByteSize, pruneBuildCache } from '../../index.js';
import { globalsOf } from '../global-options.js';
import { formatSize, printJson } from '../output.js';

export async function pruneAction(context: CliContext, flags: { all?: boolean; keepStorage?: string }, command: Command): Promise<void> {
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
}
