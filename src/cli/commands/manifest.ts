import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { manifestAnnotate, manifestCreate, manifestInspect, manifestPush, manifestRemove } from '../../index.js';
import { connectionOptions, globalsOf, type GlobalOptions } from '../global-options.js';
import { line, printJson, printNotice } from '../output.js';

/** docker's manifest commands take --insecure per command; it means the same as the global flag. */
function options(command: Command, context: CliContext, flags: { insecure?: boolean }) {
  const globals: GlobalOptions = { ...globalsOf(command), ...(flags.insecure ? { insecure: true } : {}) };
  return { ...connectionOptions(globals, context.signal), onNotice: (m: string) => printNotice(m, context.stderr) };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function registerManifest(program: Command, context: CliContext): void {
  const manifest = program.command('manifest').description("manage manifest lists in docker's local store (docker manifest drop-in)");

  manifest
    .command('create')
    .description('create a local manifest list from images in registries')
    .argument('<list>', 'the list reference, e.g. REG/foo:1.0')
    .argument('<images...>', 'one image per platform')
    .option('-a, --amend', 'amend an existing list')
    .option('--insecure', 'allow plain HTTP or unverified TLS')
    .action(async (list: string, images: string[], flags: { amend?: boolean; insecure?: boolean }, command: Command) => {
      const result = await manifestCreate(list, images, { ...options(command, context, flags), ...(flags.amend ? { amend: true } : {}) });
      context.stdout.write(line`Created manifest list ${result.list}`);
    });

  manifest
    .command('annotate')
    .description('set platform fields of one entry of a local list')
    .argument('<list>')
    .argument('<image>')
    .option('--os <os>', 'operating system')
    .option('--arch <arch>', 'architecture (aliases such as x86_64 or aarch64 are normalized)')
    .option('--variant <variant>', 'architecture variant')
    .option('--os-version <version>', 'operating system version')
    .option('--os-features <features>', 'operating system features, comma separated (repeatable)', collect)
    .action(async (list: string, image: string, flags: { os?: string; arch?: string; variant?: string; osVersion?: string; osFeatures?: string[] }, command: Command) => {
      await manifestAnnotate(list, image, {
        ...options(command, context, {}),
        ...(flags.os !== undefined ? { os: flags.os } : {}),
        ...(flags.arch !== undefined ? { arch: flags.arch } : {}),
        ...(flags.variant !== undefined ? { variant: flags.variant } : {}),
        ...(flags.osVersion !== undefined ? { osVersion: flags.osVersion } : {}),
        ...(flags.osFeatures !== undefined ? { osFeatures: flags.osFeatures.flatMap((f) => f.split(',')).filter(Boolean) } : {}),
      });
    });

  manifest
    .command('inspect')
    .description('print an image or list as JSON: an entry of a local list, a local list (as push would send it), or from the registry')
    .argument('<list-or-image>', 'the image or list; with a second argument, the local list holding it')
    .argument('[image]', 'an entry of that local list')
    .option('--insecure', 'allow plain HTTP or unverified TLS')
    .option('-v, --verbose', "docker's entry form: Ref, Descriptor (with platform), Raw and the manifest")
    .action(async (first: string, second: string | undefined, flags: { insecure?: boolean; verbose?: boolean }, command: Command) => {
      const [list, image] = second === undefined ? [undefined, first] : [first, second];
      const result = await manifestInspect(list, image, { ...options(command, context, flags), ...(flags.verbose ? { verbose: true } : {}) });
      if (result.kind === 'manifest') printJson(JSON.parse(result.raw.bytes.toString('utf8')), context.stdout);
      else printJson(result.list ? result.documents : result.documents[0], context.stdout);
    });

  manifest
    .command('push')
    .description('push a local list: entries are copied or mounted into its repository, then the list')
    .argument('<list>')
    .option('-p, --purge', 'remove the local list after pushing')
    .option('--insecure', 'allow plain HTTP or unverified TLS')
    .action(async (list: string, flags: { purge?: boolean; insecure?: boolean }, command: Command) => {
      const pushed = await manifestPush(list, { ...options(command, context, flags), ...(flags.purge ? { purge: true } : {}) });
      context.stdout.write(line`${pushed.digest}`);
    });

  manifest
    .command('rm')
    .description('delete local manifest lists')
    .argument('<lists...>')
    .action(async (lists: string[], _flags: unknown, command: Command) => {
      const globals = globalsOf(command);
      await manifestRemove(lists, globals.registryConfig !== undefined ? { registryConfigDir: globals.registryConfig } : {});
    });
}
