// `.dockerignore` with docker's matching rules (@balena/dockerignore implements them). As in
// BuildKit, `NAME.dockerignore` beside a Dockerfile called NAME wins over the context's own.
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import dockerignore from '@balena/dockerignore';

/** true: the context path may be sent to the build. */
export type ContextFilter = (absolutePath: string) => boolean;

export async function loadDockerignore(context: string, dockerfile?: string): Promise<ContextFilter> {
  const own = dockerfile === undefined ? undefined : await readFile(`${dockerfile}.dockerignore`, 'utf8').catch(() => undefined);
  const text = own ?? (await readFile(join(context, '.dockerignore'), 'utf8').catch(() => undefined));
  if (text === undefined) return () => true;
  // A CommonJS module: its factory is also exported as `.default`, which is what the types describe.
  const rules = dockerignore.default().add(text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.startsWith('#')));
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
  const rules = dockerignore.default().add([...patterns]);
  return (path) => {
    const rel = relative(sourceRoot, path);
    return rel === '' || !rules.ignores(rel);
  };
}
