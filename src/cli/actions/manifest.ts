import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { manifestAnnotate, manifestCreate, manifestInspect, manifestPush, manifestRemove } from '../../index.js';
import { connectionOptions, globalsOf, type GlobalOptions } from '../global-options.js';
import type { ProgressMode } from '../option-parsers.js';
import { line, printJson, printNotice } from '../output.js';
import { withProgress } from '../progress-view.js';

/** docker's manifest commands take --insecure per command; it means the same as the global flag. */
function options(command: Command, context: CliContext, flags: { insecure?: boolean }) {
  const globals: GlobalOptions = { ...globalsOf(command), ...(flags.insecure ? { insecure: true } : {}) };
  return { ...connectionOptions(globals, context.signal), onNotice: (m: string) => printNotice(m, context.stderr) };
}

export async function manifestCreateAction(context: CliContext, list: string, images: string[], flags: { amend?: boolean; insecure?: boolean }, command: Command): Promise<void> {
  const result = await manifestCreate({ list, images, ...options(command, context, flags), ...(flags.amend ? { amend: true } : {}) });
  if (globalsOf(command).json) printJson({ list: result.list, entries: result.entries.length }, context.stdout);
  else context.stdout.write(line`Created manifest list ${result.list}`);
}

export async function manifestAnnotateAction(context: CliContext, list: string, image: string, flags: { os?: string; arch?: string; variant?: string; osVersion?: string; osFeatures?: string[] }, command: Command): Promise<void> {
  await manifestAnnotate({
    list,
    image,
    ...options(command, context, {}),
    ...(flags.os !== undefined ? { os: flags.os } : {}),
    ...(flags.arch !== undefined ? { arch: flags.arch } : {}),
    ...(flags.variant !== undefined ? { variant: flags.variant } : {}),
    ...(flags.osVersion !== undefined ? { osVersion: flags.osVersion } : {}),
    ...(flags.osFeatures !== undefined ? { osFeatures: flags.osFeatures.flatMap((f) => f.split(',')).filter(Boolean) } : {}),
  });
}

export async function manifestInspectAction(context: CliContext, first: string, second: string | undefined, flags: { insecure?: boolean; verbose?: boolean }, command: Command): Promise<void> {
  const [list, image] = second === undefined ? [undefined, first] : [first, second];
  const result = await manifestInspect({ list, image, ...options(command, context, flags), ...(flags.verbose ? { verbose: true } : {}) });
  if (result.kind === 'manifest') printJson(JSON.parse(result.raw.bytes.toString('utf8')), context.stdout);
  else printJson(result.list ? result.documents : result.documents[0], context.stdout);
}

export async function manifestPushAction(context: CliContext, list: string, flags: { purge?: boolean; insecure?: boolean; progress?: ProgressMode }, command: Command): Promise<void> {
  const quiet = globalsOf(command).quiet;
  const pushed = await withProgress(flags.progress, { stderr: context.stderr, ...(quiet ? { quiet: true } : {}) }, (view) =>
    manifestPush({ list, ...options(command, context, flags), ...(flags.purge ? { purge: true } : {}), ...(view.onTransfer ? { onProgress: view.onTransfer } : {}) }),
  );
  if (globalsOf(command).json) printJson({ digest: pushed.digest, mediaType: pushed.mediaType, size: pushed.size }, context.stdout);
  else context.stdout.write(line`${pushed.digest}`);
}

export async function manifestRemoveAction(context: CliContext, lists: string[], _flags: unknown, command: Command): Promise<void> {
  const globals = globalsOf(command);
  await manifestRemove({ lists, signal: context.signal, ...(globals.registryConfig !== undefined ? { registryConfigDir: globals.registryConfig } : {}) });
}
