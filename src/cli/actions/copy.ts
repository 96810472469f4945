import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { copy, parsePlatformList } from '../../index.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import { line, printJson } from '../output.js';

export async function copyAction(context: CliContext, source: string, destination: string, flags: { platform?: string; referrers?: boolean; concurrency: number }, command: Command): Promise<void> {
  const globals = globalsOf(command);
  const result = await copy(source, destination, {
    ...connectionOptions(globals, context.signal),
    ...(flags.platform !== undefined ? { platforms: parsePlatformList(flags.platform) } : {}),
    ...(flags.referrers ? { referrers: true } : {}),
    concurrency: flags.concurrency,
  });
  const referrers = flags.referrers ? `, ${result.referrers} referrer${result.referrers === 1 ? '' : 's'}` : '';
  if (globals.json) printJson(result, context.stdout);
  else if (globals.quiet) context.stdout.write(line`${result.descriptor.digest}`);
  else
    context.stdout.write(
      line`copied ${source} to ${destination}: ${result.descriptor.digest} (${result.manifests} manifest${result.manifests === 1 ? '' : 's'}${referrers}; blobs ${result.blobsCopied} copied, ${result.blobsMounted} mounted, ${result.blobsSkipped} already there)`,
    );
}
