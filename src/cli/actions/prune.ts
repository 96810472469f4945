import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { parseByteSize, pruneBuildCache, pruneBundleCache, type BundleCachePruneResult, type PruneResult } from '../../index.js';
import { globalsOf } from '../global-options.js';
import { formatSize, printJson } from '../output.js';

function summary(result: PruneResult | BundleCachePruneResult, what: string): string {
  const entries = result.removed.filter((r) => r.type !== 'blob' && r.type !== 'temp').length;
  const blobs = result.removed.filter((r) => r.type === 'blob').length;
  return `${what}removed ${entries} cache entries and ${blobs} blobs; freed ${formatSize(result.bytesFreed)}, ${formatSize(result.bytesKept)} kept\n`;
}

export async function pruneAction(context: CliContext, flags: { all?: boolean; keepStorage?: string; bundleCache?: boolean }, command: Command): Promise<void> {
  const globals = globalsOf(command);
  const keepStorage = flags.keepStorage !== undefined ? parseByteSize(flags.keepStorage) : undefined;
  const waiting = (what: string) => (pids: readonly number[]) => context.stderr.write(`waiting for ${pids.length} ${what} using the cache to finish (pid ${pids.join(', ')})\n`);
  const result = await pruneBuildCache({
    signal: context.signal,
    ...(flags.all ? { all: true } : {}),
    ...(keepStorage !== undefined ? { keepStorage } : {}),
    ...(globals.quiet ? {} : { onWait: waiting('build(s)') }),
  });
  // --keep-storage bounds both caches together: the bundle cache gets what the build cache left over.
  const bundles =
    flags.bundleCache || flags.all
      ? await pruneBundleCache({
          signal: context.signal,
          ...(flags.all ? { all: true } : {}),
          ...(keepStorage !== undefined ? { keepStorage: Math.max(0, keepStorage - result.bytesKept) } : {}),
          ...(globals.quiet ? {} : { onWait: waiting('bundle run(s)') }),
        })
      : undefined;
  if (globals.json) printJson(bundles ? { ...result, bundleCache: bundles } : result, context.stdout);
  else if (!globals.quiet) {
    context.stdout.write(summary(result, ''));
    if (bundles) context.stdout.write(summary(bundles, 'bundle cache: '));
  }
}
