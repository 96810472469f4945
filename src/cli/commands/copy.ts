import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { copy, parsePlatformList } from '../../index.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import { integerOption } from '../option-parsers.js';
import { line, printJson } from '../output.js';

/** More parallel blob streams than this only queue up behind each other and the registry's limits. */
const MAX_CONCURRENCY = 64;

export function registerCopy(program: Command, context: CliContext): void {
  program
    .command('copy')
    .alias('cp')
    .description('copy an image or index between any two locations')
    .argument('<source>', 'where to read: registry reference, oci:DIR[:TAG][@DIGEST], oci-archive:FILE[:TAG][@DIGEST], docker-archive:FILE[:REPO:TAG]')
    .argument('<destination>', 'where to write, in the same syntax')
    .option('--platform <platforms>', 'copy only these platforms (comma separated); the index is rewritten, never sparse')
    .option('--concurrency <n>', `blobs copied at once (1–${MAX_CONCURRENCY})`, integerOption('--concurrency', 1, MAX_CONCURRENCY), 6)
    .action(async (source: string, destination: string, flags: { platform?: string; concurrency: number }, command: Command) => {
      const globals = globalsOf(command);
      const result = await copy(source, destination, {
        ...connectionOptions(globals, context.signal),
        ...(flags.platform !== undefined ? { platforms: parsePlatformList(flags.platform) } : {}),
        concurrency: flags.concurrency,
      });
      if (globals.json) printJson(result, context.stdout);
      else if (globals.quiet) context.stdout.write(line`${result.descriptor.digest}`);
      else
        context.stdout.write(
          line`copied ${source} to ${destination}: ${result.descriptor.digest} (${result.manifests} manifest${result.manifests === 1 ? '' : 's'}; blobs ${result.blobsCopied} copied, ${result.blobsMounted} mounted, ${result.blobsSkipped} already there)`,
        );
    });
}
