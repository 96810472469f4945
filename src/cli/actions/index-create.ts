import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { PolyarchError, annotationsFor, assembleIndex, parseAnnotation, expandTemplate, readPushSpec, type AssembleOptions, type AssembleResult, type IndexFormat, type PushSpec } from '../../index.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import type { ProgressMode } from '../option-parsers.js';
import { line, printJson, printNotice } from '../output.js';
import { withProgress } from '../progress-view.js';

/** `--annotation [index:|manifest-descriptor:]KEY=VALUE`, the index by default (buildx imagetools' grammar). */
function parseAnnotations(values: readonly string[]): Pick<AssembleOptions, 'annotations' | 'descriptorAnnotations'> {
  const list = values.map((value) => parseAnnotation(value, 'index'));
  const other = list.find((a) => a.platform || a.targets.includes('manifest'));
  if (other) throw new PolyarchError('USAGE', `--annotation ${values[list.indexOf(other)]}: index create annotates the index and its entries (index:, manifest-descriptor:), for every platform`);
  const annotations = annotationsFor(list, 'index');
  const descriptorAnnotations = annotationsFor(list, 'manifest-descriptor');
  return { ...(annotations ? { annotations } : {}), ...(descriptorAnnotations ? { descriptorAnnotations } : {}) };
}

function parseFormat(value: string | undefined, flag = '--format'): IndexFormat | undefined {
  if (value === undefined) return undefined;
  if (value !== 'oci' && value !== 'docker') throw new PolyarchError('USAGE', `${flag} must be oci or docker, not "${value}"`);
  return value;
}

function report(result: AssembleResult, json: boolean | undefined, context: CliContext): void {
  if (json) printJson(result, context.stdout);
  else context.stdout.write(line`${result.descriptor.digest}`);
}

function notices(context: CliContext): Pick<AssembleOptions, 'onNotice'> {
  return { onNotice: (m: string) => printNotice(m, context.stderr) };
}

/** manifest-tool's push flags: --type (docker default there; here chosen from the images) and --ignore-missing. */
async function pushSpec(spec: PushSpec, flags: { type?: string; ignoreMissing?: boolean; progress?: ProgressMode }, command: Command, context: CliContext): Promise<void> {
  const globals = globalsOf(command);
  const format = parseFormat(flags.type, '--type');
  const result = await withProgress(flags.progress, { stderr: context.stderr, ...(globals.quiet ? { quiet: true } : {}) }, (view) =>
    assembleIndex({
      sources: spec.sources,
      targets: spec.targets,
      ...connectionOptions(globals, context.signal),
      ...notices(context),
      ...(format ? { format } : {}),
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
      ...(flags.ignoreMissing ? { ignoreMissing: true } : {}),
      ...(view.onTransfer ? { onProgress: view.onTransfer } : {}),
    }),
  );
  report(result, globals.json, context);
}

export async function indexCreateAction(context: CliContext, sources: string[], flags: { tag: string[]; append?: boolean; annotation?: string[]; format?: string; allowMixed?: boolean; attestations: string; progress?: ProgressMode }, command: Command): Promise<void> {
  const globals = globalsOf(command);
  if (flags.attestations !== 'keep' && flags.attestations !== 'drop') throw new PolyarchError('USAGE', `--attestations must be keep or drop, not "${flags.attestations}"`);
  const format = parseFormat(flags.format);
  const annotations = parseAnnotations(flags.annotation ?? []);
  const attestations = flags.attestations;
  const result = await withProgress(flags.progress, { stderr: context.stderr, ...(globals.quiet ? { quiet: true } : {}) }, (view) =>
    assembleIndex({
      sources,
      targets: flags.tag,
      ...connectionOptions(globals, context.signal),
      ...notices(context),
      ...annotations,
      ...(format ? { format } : {}),
      ...(flags.append ? { append: true } : {}),
      ...(flags.allowMixed ? { allowMixed: true } : {}),
      attestations,
      ...(view.onTransfer ? { onProgress: view.onTransfer } : {}),
    }),
  );
  report(result, globals.json, context);
}

export async function pushFromSpecAction(context: CliContext, file: string, flags: { ignoreMissing?: boolean; progress?: ProgressMode }, command: Command): Promise<void> {
  await pushSpec(await readPushSpec(file), { ...command.optsWithGlobals<{ type?: string }>(), ...flags }, command, context);
}

export async function pushFromArgsAction(context: CliContext, flags: { platforms: string[]; template: string; target: string; tags?: string[]; ignoreMissing?: boolean; progress?: ProgressMode }, command: Command): Promise<void> {
  const tags = (flags.tags ?? []).flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
  const spec = expandTemplate(flags.template, flags.platforms, flags.target, tags);
  await pushSpec(spec, { ...command.optsWithGlobals<{ type?: string }>(), ...flags }, command, context);
}
