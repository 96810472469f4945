import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { PolyarchError, copy, parseLocation, parsePlatformListWithNotices } from '../../index.js';
import { connectionOptions, globalsOf, type GlobalOptions } from '../global-options.js';
import { goBool, type ProgressMode } from '../option-parsers.js';
import { line, noticesTo, printJson } from '../output.js';
import { withProgress } from '../progress-view.js';
import { whileMovingBlobs } from '../young-garbage.js';

export async function copyAction(context: CliContext, source: string, destination: string, flags: { platform?: string; all?: boolean; srcTlsVerify?: string | true; destTlsVerify?: string | true; referrers?: boolean; concurrency: number; progress?: ProgressMode }, command: Command): Promise<void> {
  const globals = globalsOf(command);
  if (flags.all && flags.platform !== undefined) throw new PolyarchError('USAGE', '--all and --platform exclude each other: --all copies every platform, --platform only those it names');
  const platforms = flags.platform !== undefined ? parsePlatformListWithNotices(flags.platform, noticesTo(context.stderr, globals.quiet)) : undefined;
  const result = await withProgress(flags.progress, { stderr: context.stderr, ...(globals.quiet ? { quiet: true } : {}) }, (view) =>
    whileMovingBlobs(() => copy({
      source,
      destination,
      ...connectionOptions(globals, context.signal),
      ...unverifiedHosts(globals, [source, flags.srcTlsVerify, '--src-tls-verify'], [destination, flags.destTlsVerify, '--dest-tls-verify']),
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

/**
 * skopeo's --src-tls-verify=false and --dest-tls-verify=false: plain HTTP or unverified TLS for that
 * side's registry alone (a flag given without a value, or on a side that is no registry, changes nothing).
 */
function unverifiedHosts(globals: GlobalOptions, ...sides: [location: string, value: string | true | undefined, flag: string][]): { insecure?: string[] } {
  if (globals.insecure) return {};
  const hosts: string[] = [];
  for (const [location, value, flag] of sides) {
    // Commander gives true for the flag without a value; skopeo's bool flags take one only after `=`.
    if (typeof value !== 'string') continue;
    const verify = goBool(value);
    if (verify === undefined) throw new PolyarchError('USAGE', `${flag}=${value}: expected true or false`);
    const parsed = parseLocation(location);
    if (!verify && parsed.kind === 'registry') hosts.push(parsed.reference.registry);
  }
  return hosts.length > 0 ? { insecure: hosts } : {};
}
