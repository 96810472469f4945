// `build --output`/`-o` in buildx's grammar (`type=oci,dest=FILE,name=REF,compression=zstd`) or a
// polyarch location, parsed once into the library's typed outputs. Every bad value is refused here,
// before any work, in one line that quotes the flag as it was given.
import { PolyarchError, STDOUT_DEST, checkOutputs, parseCompression, type BuildOutput, type CompressionOptions } from '../index.js';

/** The KEY=VALUE fields of a buildx `--output type=…,…`, or none for a polyarch location. */
function outputFields(output: string): Map<string, string> {
  if (!output.startsWith('type=')) return new Map();
  return new Map(output.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const));
}

/** The first value any of the outputs gives attribute `name` (buildx sets `compression=` this way). */
function outputAttribute(outputs: readonly string[], name: string): string | undefined {
  return outputs.map((o) => outputFields(o).get(name)).find((v) => v !== undefined);
}

/** Attributes every type takes, and buildx's that name what polyarch always does (accepted with that value only). */
const COMMON_ATTRIBUTES = ['type', 'compression', 'compression-level'];
const ALWAYS: Readonly<Record<string, string>> = { 'oci-mediatypes': 'true', 'rewrite-timestamp': 'true' };
const ATTRIBUTES_OF: Readonly<Record<string, readonly string[]>> = {
  registry: ['name', 'push'],
  image: ['name', 'push'],
  oci: ['dest', 'name', 'tar'],
  docker: ['dest', 'name'],
  local: ['dest'],
  tar: ['dest'],
};

/** Refuses an attribute the output's type does not take, rather than ignoring it (`tar=false` did nothing). */
function checkAttributes(output: string, type: string, fields: ReadonlyMap<string, string>): void {
  const taken = ATTRIBUTES_OF[type];
  if (!taken) return; // an unknown type is refused by name below
  for (const [key, value] of fields) {
    if (COMMON_ATTRIBUTES.includes(key) || taken.includes(key)) continue;
    if (ALWAYS[key] === value) continue;
    const fixed = ALWAYS[key] !== undefined ? `; polyarch always writes ${key}=${ALWAYS[key]}` : '';
    throw new PolyarchError('USAGE', `--output ${output}: type=${type} does not take ${key}=${value} (it takes ${[...taken, 'compression', 'compression-level'].join(', ')})${fixed}`);
  }
  if (fields.has('push') && fields.get('push') !== 'true') throw new PolyarchError('USAGE', `--output ${output}: a registry output pushes; push=${fields.get('push')} would leave nothing (use type=oci or type=docker for a file)`);
  const tar = fields.get('tar');
  if (tar !== undefined && tar !== 'true' && tar !== 'false') throw new PolyarchError('USAGE', `--output ${output}: tar= is true or false`);
}

/** An archive output's `name`: one name as it was, several (`-t a:1 -t a:2`) as a list, none left out. */
function nameOrNames(names: readonly string[]): { name?: string | readonly string[] } {
  return names.length === 0 ? {} : names.length === 1 ? { name: names[0]! } : { name: names };
}

/** One `--output` value as a typed output. */
export function parseBuildOutput(output: string, tags: readonly string[]): BuildOutput {
  // As buildx: `-o -` is a tar of the filesystem on standard output.
  if (output === STDOUT_DEST) return { type: 'tar', dest: STDOUT_DEST };
  if (!output.startsWith('type=')) return { type: 'location', location: output };
  const fields = outputFields(output);
  const type = fields.get('type');
  checkAttributes(output, type ?? '', fields);
  const dest = fields.get('dest');
  const names = fields.get('name')?.split(/[;\s]+/).filter(Boolean) ?? [...tags];
  const needDest = (): string => {
    if (!dest) throw new PolyarchError('USAGE', `--output ${output}: needs dest=`);
    return dest;
  };
  switch (type) {
    case 'registry':
    case 'image':
      if (names.length === 0) throw new PolyarchError('USAGE', `--output ${output}: needs name= or -t`);
      return { type: 'registry', names };
    case 'oci':
      return { type, dest: needDest(), ...nameOrNames(names), ...(fields.get('tar') === 'false' ? { tar: false } : {}) };
    case 'docker':
      return { type, dest: needDest(), ...nameOrNames(names) };
    case 'local':
    case 'tar':
      return { type, dest: needDest() };
    default:
      throw new PolyarchError('USAGE', `--output type=${type ?? ''} is not supported (registry, image, oci, docker, local, tar, or a polyarch location)`);
  }
}

/**
 * The layer compression `--compression`/`--compression-level` ask for, else the first outputs'
 * `compression=`/`compression-level=` attributes (buildx sets compression per output; here the
 * layers are compressed once, as they are built).
 */
export function parseOutputCompression(texts: readonly string[], flags: { readonly compression?: string; readonly compressionLevel?: string }): CompressionOptions {
  return parseCompression(flags.compression ?? outputAttribute(texts, 'compression'), flags.compressionLevel ?? outputAttribute(texts, 'compression-level'));
}

/** Every `--output` value parsed and checked against the build: `tags` name registry, oci and docker outputs that give no `name=`; a docker archive takes one of `platforms`. */
export function parseBuildOutputs(texts: readonly string[], flags: { readonly tags: readonly string[]; readonly platforms: number }): BuildOutput[] {
  return texts.map((text) => {
    const output = parseBuildOutput(text, flags.tags);
    checkOutputs([output], flags.platforms, () => text);
    return output;
  });
}
