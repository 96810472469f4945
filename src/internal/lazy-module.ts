// A dependency loaded the first time it is used, not when the library is imported: every command
// imports the library, and most of them never parse YAML, a Dockerfile or a .dockerignore. The
// packages used this way ship CommonJS, so `require` keeps the functions that use them synchronous.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A getter that loads `name` on its first call and returns the same module after. */
export function lazyModule<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(name) as T);
}
