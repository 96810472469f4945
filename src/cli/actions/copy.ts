import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { PolyarchError, copy, parsePlatformListWithNotices } from '../../index.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import type { ProgressMode } from '../option-parsers.js';
import { line, noticesTo, printJson } from '../output.js';
import { withProgress } from '../progress-view.js';
import { whileMovingBlobs } from '../young-garbage.js';

export async function copyAction(context: CliContext, source: string, destination: string, flags: { platform?: string; all?: boolean; referrers?: boolean; concurrency: number; progress?: ProgressMode }, command: Command): Promise<void> {
  const globals = globalsOf(command);
  if (flags.all && flags.platform !== undefined) throw new PolyarchError('USAGE', '--all and --platform exclude each other: --all copies every platform, --platform only those it names');
  const platforms = flags.platform !== undefined ? parsePlatformListWithNotices(flags.platform, noticesTo(context.stderr, globals.quiet)) : undefined;
  const result = await withProgress(flags.progress, { stderr: context.stderr, ...(globals.quiet ? { quiet: true } : {}) }, (view) =>
    whileMovingBlobs(() => copy({
      source,
      destination,
      ...connectionOptions(globals, context.signal),
      ...(platforms ? { platforms } : {}),
      ...(flags.referrers ? { referrers: true } : {}),
      concurrency: flags.concurrency,
      ...(view.onTransfer ? { onProgress: view.onTransfer } : {}),
    })),
  );
  const referrers = flags.referrers ? `, ${result.referrers} referrer${result.referrers === 1 ? '' : 's'}` : '';
  if (globals.json) printJson(result, context.stdout);
  else if (globals.quiet) context.stdout.write(line`${result.descriptor.digest}`);
  else
    context.stdout.write(
      line`copied ${source} to ${destination}: ${result.descriptor.digest} (${result.manifests} manifest${result.manifests === 1 ? '' : 's'}${referrers}; blobs ${result.blobsCopied} copied, ${result.blobsMounted} mounted, ${result.blobsSkipped} already there)`,
    );
}
