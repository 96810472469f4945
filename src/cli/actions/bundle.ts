import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { bundle, bundlePush, parsePlatformListWithNotices, PolyarchError, readImageList, type ArchiveFormat } from '../../index.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import type { ProgressMode } from '../option-parsers.js';
import { formatSize, line, noticesTo, printJson, printNotice } from '../output.js';
import { withProgress } from '../progress-view.js';
import { whileMovingBlobs } from '../young-garbage.js';

interface BundleFlags {
  readonly platform?: string;
  readonly output?: string;
  readonly format: string;
  readonly images?: string;
  readonly cacheDir?: string;
  readonly concurrency: number;
  readonly progress?: ProgressMode;
}

export async function bundleAction(context: CliContext, images: string[], flags: BundleFlags, command: Command): Promise<void> {
  const globals = globalsOf(command);
  if (flags.platform === undefined) throw new PolyarchError('USAGE', 'bundle: --platform is required (e.g. --platform linux/arm64)');
  if (flags.output === undefined) throw new PolyarchError('USAGE', 'bundle: -o is required (e.g. -o release-{arch}.tar)');
  if (flags.format !== 'docker' && flags.format !== 'oci') throw new PolyarchError('USAGE', `--format must be docker or oci, not "${flags.format}"`);
  const listed = [...images, ...(flags.images !== undefined ? await readImageList(flags.images) : [])];
  // As build says it: `--platform x86_64` is bundled as linux/amd64, and {arch} is then amd64.
  const platforms = parsePlatformListWithNotices(flags.platform, noticesTo(context.stderr, globals.quiet));
  const output = flags.output;
  const result = await withProgress(flags.progress, { stderr: context.stderr, ...(globals.quiet ? { quiet: true } : {}) }, (view) =>
    whileMovingBlobs(() => bundle({
      ...connectionOptions(globals, context.signal),
      images: listed,
      platforms,
      output,
      format: flags.format as ArchiveFormat,
      concurrency: flags.concurrency,
      ...(flags.cacheDir !== undefined ? { cacheDir: flags.cacheDir } : {}),
      ...(view.onTransfer ? { onProgress: view.onTransfer } : {}),
      onNotice: (m) => printNotice(m, context.stderr),
    })),
  );
  if (globals.json) {
    printJson(result, context.stdout);
    return;
  }
  for (const archive of result.archives) {
    if (globals.quiet) context.stdout.write(line`${archive.path}`);
    else context.stdout.write(line`${archive.path}: ${archive.manifest.images.length} image${archive.manifest.images.length === 1 ? '' : 's'} for ${archive.manifest.platform}, ${formatSize(archive.size)}, sha256:${archive.sha256.slice(7)}`);
  }
  if (!globals.quiet) {
    for (const file of result.checksumFiles) context.stdout.write(line`${file}`);
    context.stdout.write(line`blobs: ${result.blobsFetched} fetched (${formatSize(result.bytesFetched)}), ${result.blobsReused} from the cache ${result.cacheDir}`);
  }
}

export async function bundlePushAction(context: CliContext, archive: string, flags: { to?: string; concurrency: number; progress?: ProgressMode }, command: Command): Promise<void> {
  const globals = globalsOf(command);
  if (flags.to === undefined) throw new PolyarchError('USAGE', 'bundle push: --to REGISTRY[/PREFIX] is required');
  const to = flags.to;
  const progress = givenHereOrToBundle<ProgressMode | undefined>(command, 'progress', flags.progress);
  const concurrency = givenHereOrToBundle(command, 'concurrency', flags.concurrency);
  const result = await withProgress(progress, { stderr: context.stderr, ...(globals.quiet ? { quiet: true } : {}) }, (view) =>
    whileMovingBlobs(() => bundlePush({ archive, ...connectionOptions(globals, context.signal), to, concurrency, ...(view.onTransfer ? { onProgress: view.onTransfer } : {}) })),
  );
  if (globals.json) printJson(result, context.stdout);
  else for (const image of result.images) context.stdout.write(globals.quiet ? line`${image.target}@${image.digest}` : line`pushed ${image.image} to ${image.target}: ${image.digest}`);
}

/**
 * `bundle` and `bundle push` both take --progress and --concurrency, and commander hands an option
 * both define to the parent: the value written on the command line wins, wherever it landed.
 */
function givenHereOrToBundle<T>(command: Command, name: string, own: T): T {
  if (command.getOptionValueSource(name) === 'cli') return own;
  const parent = command.parent;
  return parent?.getOptionValueSource(name) === 'cli' ? (parent.getOptionValue(name) as T) : own;
}
