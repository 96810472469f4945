// Pull-through mirrors, as containerd's hosts configuration uses them: reads (manifest GET and
// HEAD, blob GET) ask each mirror in order, then the registry itself; a mirror that cannot answer
// (connection or TLS failure, 404, 5xx, refused credentials) hands over to the next. Everything
// else (pushes, deletes, tags, referrers, blob checks before an upload) goes to the registry.
// Each mirror is its own client, so it gets its own credentials and never the registry's. What a
// mirror sends is verified like anything else: a wrong digest or size is reported, not skipped,
// since a mirror serving bad bytes is a mirror to look at.
import { isPolyarchError } from '../errors/polyarch-error.js';
import { takeAll } from '../internal/streams.js';
import type { RegistryRepository } from './client.js';

/** Errors that say the mirror answered with wrong content: reported, never hidden by falling back. */
const CONTENT_ERRORS = new Set(['DIGEST_MISMATCH', 'SIZE_MISMATCH', 'SIZE_INVALID', 'MANIFEST_INVALID']);

export function withMirrors(origin: RegistryRepository, mirrors: readonly RegistryRepository[]): RegistryRepository {
  if (mirrors.length === 0) return origin;
  // A mirror that cannot be reached at all is not asked again by this repository.
  const unreachable = new Set<RegistryRepository>();

  const firstAnswer = async <T>(
    ask: (repository: RegistryRepository) => Promise<T>,
    answered: (value: T) => boolean,
    signal: AbortSignal | undefined,
  ): Promise<T> => {
    for (const mirror of mirrors) {
      if (unreachable.has(mirror)) continue;
      try {
        const value = await ask(mirror);
        if (answered(value)) return value;
      } catch (error) {
        if (signal?.aborted) throw error;
        if (isPolyarchError(error) && CONTENT_ERRORS.has(error.code)) throw error;
        if (isPolyarchError(error) && (error.code === 'NETWORK' || error.code === 'TLS')) unreachable.add(mirror);
      }
    }
    return ask(origin);
  };
  const always = (): boolean => true;

  return {
    ...origin,
    resolve: (reference, o = {}) => firstAnswer((r) => r.resolve(reference, o), (d) => d !== undefined, o.signal),
    headManifest: (reference, o = {}) => firstAnswer((r) => r.headManifest(reference, o), (d) => d !== undefined, o.signal),
    getManifest: (reference, o = {}) => firstAnswer((r) => r.getManifest(reference, o), always, o.signal),
    openBlob: (descriptor, o = {}) => firstAnswer((r) => r.openBlob(descriptor, o), always, o.signal),
    // Through openBlob, so the mirrors are tried in the same order.
    readBlobInto: async (descriptor, take, o = {}) => takeAll(await firstAnswer((r) => r.openBlob(descriptor, o), always, o.signal), take),
  };
}
