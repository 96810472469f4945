import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { deleteImage, listCatalog, listTags } from '../../index.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import { line, printJson, printLines } from '../output.js';

export function registerList(program: Command, context: CliContext): void {
  program
    .command('tags')
    .alias('ls')
    .description('list the tags of a repository or layout')
    .argument('<location>', 'registry repository (HOST/REPO) or oci:DIR')
    .action(async (location: string, _flags: unknown, command: Command) => {
      const globals = globalsOf(command);
      const tags = await listTags(location, connectionOptions(globals, context.signal));
      if (globals.json) printJson(tags, context.stdout);
      else printLines(tags, context.stdout);
    });

  program
    .command('catalog')
    .description("list a registry's repositories")
    .argument('<registry>', 'registry host[:port]')
    .action(async (host: string, _flags: unknown, command: Command) => {
      const globals = globalsOf(command);
      const repositories = await listCatalog(host, connectionOptions(globals, context.signal));
      if (globals.json) printJson(repositories, context.stdout);
      else printLines(repositories, context.stdout);
    });

  program
    .command('delete')
    .alias('rm')
    .description('delete a manifest (a tag is resolved to its digest) or a layout tag')
    .argument('<location>', 'registry reference or oci:DIR:TAG')
    .action(async (location: string, _flags: unknown, command: Command) => {
      const globals = globalsOf(command);
      const { deleted } = await deleteImage(location, connectionOptions(globals, context.signal));
      if (globals.json) printJson({ deleted }, context.stdout);
      else context.stdout.write(globals.quiet ? line`${deleted}` : line`deleted ${location} (${deleted})`);
    });
}
