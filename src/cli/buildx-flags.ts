// Flags CI scripts written for buildx give that change nothing in what polyarch does: taken as
// buildx means them (--provenance=false, --sbom=false, --allow network.host), taken with a notice
// as buildx's docker driver takes them (--cache-from, --cache-to), or refused in one line when they
// ask for what polyarch does not do.
import { PolyarchError } from '../index.js';
import { goBool } from './option-parsers.js';

export interface BuildxFlags {
  readonly provenance?: string;
  readonly sbom?: string;
  readonly allow?: readonly string[];
  readonly cacheFrom?: readonly string[];
  readonly cacheTo?: readonly string[];
}

export function takeBuildxFlags(flags: BuildxFlags, notice: (message: string) => void): void {
  for (const [flag, value] of [['--provenance', flags.provenance], ['--sbom', flags.sbom]] as const) {
    // Scripts turn buildx's default attestations off; polyarch never makes them.
    if (value !== undefined && goBool(value) !== false) throw new PolyarchError('USAGE', `${flag}=${value}: polyarch adds no attestations to the index; only ${flag}=false, what it always does, is taken`);
  }
  // buildx wants --allow network.host before a RUN may use the host's network; polyarch grants it to every build.
  for (const entitlement of (flags.allow ?? []).flatMap((a) => a.split(','))) {
    if (entitlement === 'security.insecure') throw new PolyarchError('USAGE', '--allow security.insecure: RUN --security=insecure is not supported; steps always run sandboxed');
    if (entitlement !== 'network.host') throw new PolyarchError('USAGE', `--allow ${entitlement}: expected network.host (or buildx's security.insecure, which polyarch refuses)`);
  }
  for (const [flag, values] of [['--cache-from', flags.cacheFrom], ['--cache-to', flags.cacheTo]] as const) {
    for (const cache of values ?? []) notice(`${flag} ${cache} is ignored: the build cache is polyarch's own, on disk ($XDG_CACHE_HOME/polyarch/build)`);
  }
}
