import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { deleteImage, listCatalog, listTags } from '../../index.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import { line, printJson, printLines } from '../output.js';

export async function tagsAction(context: CliContext, location: string, _flags: unknown, command: Command): Promise<void> {
  const globals = globalsOf(command);
  const tags = await listTags({ location, ...connectionOptions(globals, context.signal) });
  if (globals.json) printJson(tags, context.stdout);
  else printLines(tags, context.stdout);
}

export async function catalogAction(context: CliContext, host: string, _flags: unknown, command: Command): Promise<void> {
  const globals = globalsOf(command);
  const repositories = await listCatalog({ registry: host, ...connectionOptions(globals, context.signal) });
  if (globals.json) printJson(repositories, context.stdout);
  else printLines(repositories, context.stdout);
}

export async function deleteAction(context: CliContext, location: string, _flags: unknown, command: Command): Promise<void> {
  const globals = globalsOf(command);
  const { deleted } = await deleteImage({ location, ...connectionOptions(globals, context.signal) });
  if (globals.json) printJson({ deleted }, context.stdout);
  else context.stdout.write(globals.quiet ? line`${deleted}` : line`deleted ${location} (${deleted})`);
}
