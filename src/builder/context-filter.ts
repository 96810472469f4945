// `.dockerignore` with docker's matching rules (@balena/dockerignore implements them). As in
// BuildKit, `NAME.dockerignore` beside a Dockerfile called NAME wins over the context's own.
import { lstat } from 'node:fs/promises';
import { PolyarchError } from '../errors/polyarch-error.js';
import { MAX_SMALL_FILE_BYTES, RegularFileError, readRegularFile } from '../internal/regular-file.js';
import { basename, dirname, relative } from 'node:path';
import { lazyModule } from '../internal/lazy-module.js';
import { resolveInRoot } from '../internal/contained-path.js';

const dockerignore = lazyModule<typeof import('@balena/dockerignore')>('@balena/dockerignore');

/** true: the context path may be sent to the build. */
export type ContextFilter = (absolutePath: string) => boolean;

/**
 * A regular file `name` in `dir`, its links resolved inside `dir` (the context, or the Dockerfile's
 * own directory, as BuildKit shares them): a link to a host file or a device is not read.
 */
async function readInside(dir: string, name: string): Promise<string | undefined> {
  const path = await resolveInRoot(dir, name, { followFinal: true }).catch(() => undefined);
  if (path === undefined || !(await lstat(path).then((info) => info.isFile(), () => false))) return undefined;
  try {
    return await readRegularFile(path, MAX_SMALL_FILE_BYTES);
  } catch (error) {
    // Read as far as the bound, never further: an ignore file that big is refused, not skipped (which would send everything).
    if (error instanceof RegularFileError && error.problem === 'too-large') throw new PolyarchError('USAGE', `${name}: ${error.message}`);
    return undefined;
  }
}

export async function loadDockerignore(context: string, dockerfile?: string): Promise<ContextFilter> {
  const own = dockerfile === undefined ? undefined : await readInside(dirname(dockerfile), `${basename(dockerfile)}.dockerignore`);
  const text = own ?? (await readInside(context, '.dockerignore'));
  if (text === undefined) return () => true;
  // A CommonJS module: its factory is also exported as `.default`, which is what the types describe.
  const rules = dockerignore().default().add(text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.startsWith('#')));
  return (path) => {
    const rel = relative(context, path);
    return rel === '' || !rules.ignores(rel);
  };
}

/**
 * COPY/ADD `--exclude=PATTERN` (repeatable): patterns in .dockerignore's syntax, matched against
 * paths relative to the source directory (or a file source's own name). true: keep the path.
 */
export function excludeFilter(patterns: readonly string[], sourceRoot: string): ContextFilter {
  if (patterns.length === 0) return () => true;
  const rules = dockerignore().default().add([...patterns]);
  return (path) => {
    const rel = relative(sourceRoot, path);
    return rel === '' || !rules.ignores(rel);
  };
}
