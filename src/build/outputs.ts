// Where a build goes, in buildx's `--output` grammar or as any polyarch location.
import type { ConnectionOptions } from '../ops/session.js';
import type { BuildResult } from './build.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { copy } from '../ops/copy.js';

/** One destination as a polyarch location (`host/repo:tag`, `oci-archive:FILE`, …). */
export function outputLocations(output: string, tags: readonly string[]): string[] {
  if (!output.startsWith('type=')) return [output];
  const fields = new Map(output.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const));
  const type = fields.get('type');
  const dest = fields.get('dest');
  const names = fields.get('name')?.split(/[;\s]+/).filter(Boolean) ?? [...tags];
  const needDest = (): string => {
    if (!dest) throw new PolyarchError('USAGE', `--output ${output}: needs dest=`, { badInput: true });
    return dest;
  };
  switch (type) {
    case 'registry':
    case 'image':
      if (names.length === 0) throw new PolyarchError('USAGE', `--output ${output}: needs name= or -t`, { badInput: true });
      return names;
    case 'oci':
      return [`oci-archive:${needDest()}`];
    case 'docker':
      return [`docker-archive:${needDest()}${names[0] ? `:${names[0]}` : ''}`];
    default:
      throw new PolyarchError('USAGE', `--output type=${type ?? ''} is not supported yet (registry, image, oci, docker, or a polyarch location)`, { badInput: true });
  }
}

/** Sends the built index to every output; returns the locations written. */
export async function exportBuild(result: BuildResult, outputs: readonly string[], options: ConnectionOptions & { signal?: AbortSignal; tags?: readonly string[]; push?: boolean } = {}): Promise<string[]> {
  const tags = options.tags ?? [];
  const targets = [...outputs.flatMap((o) => outputLocations(o, tags)), ...(options.push ? tags : [])];
  for (const target of [...new Set(targets)]) await copy(`oci:${result.layout}:${result.tag}`, target, options);
  return targets;
}
