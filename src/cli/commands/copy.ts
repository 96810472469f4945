import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { copy, parsePlatformList } from '../../index.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import { printJson } from '../output.js';

export function registerCopy(program: Command, context: CliContext): void {
  program
    .command('copy')
    .alias('cp')
    .description('copy an image or index between any two locations')
    .argument('<source>', 'where to read: registry reference, oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE')
    .argument('<destination>', 'where to write, in the same syntax')
    .option('--platform <platforms>', 'copy only these platforms (comma separated); the index is rewritten, never sparse')
    .option('--concurrency <n>', 'blobs copied at once', '6')
    .action(async (source: string, destination: string, flags: { platform?: string; concurrency: string }, command: Command) => {
      const globals = globalsOf(command);
      const concurrency = Number.parseInt(flags.concurrency, 10);
      const result = await copy(source, destination, {
        ...connectionOptions(globals, context.signal),
        ...(flags.platform !== undefined ? { platforms: parsePlatformList(flags.platform) } : {}),
        ...(Number.isSafeInteger(concurrency) && concurrency > 0 ? { concurrency } : {}),
      });
      if (globals.json) printJson(result, context.stdout);
      else if (globals.quiet) context.stdout.write(`${result.descriptor.digest}\n`);
      else
        context.stdout.write(
          `copied ${source} to ${destination}: ${result.descriptor.digest} (${result.manifests} manifest${result.manifests === 1 ? '' : 's'}; blobs ${result.blobsCopied} copied, ${result.blobsMounted} mounted, ${result.blobsSkipped} already there)\n`,
        );
    });
}
