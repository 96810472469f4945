// buildx's `--build-context NAME=…`: more contexts, which a Dockerfile names as it names a stage or
// an image (FROM NAME, COPY --from=NAME, RUN --mount=from=NAME). An image context stands in for the
// image of that name, or for the stage of that name, which is then not built (as in BuildKit). A
// directory context is read as the build context is, with its own .dockerignore; a stage FROM it
// starts with its files as the first layer.
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PolyarchError } from '../errors/polyarch-error.js';
import { familiarString, parseReference } from '../reference/reference.js';
import { loadDockerignore, type ContextFilter } from './context-filter.js';

/** One named context: a host directory, or an image at any location (`host/repo:tag`, `oci:DIR:TAG`, …). */
export type NamedContext = { readonly directory: string } | { readonly image: string };

/** A directory context, opened: its absolute path and what its .dockerignore keeps. */
export interface DirectoryContext {
  readonly dir: string;
  readonly keep: ContextFilter;
}

export class NamedContexts {
  readonly #images: ReadonlyMap<string, string>;
  readonly #directories: ReadonlyMap<string, DirectoryContext>;

  private constructor(images: ReadonlyMap<string, string>, directories: ReadonlyMap<string, DirectoryContext>) {
    this.#images = images;
    this.#directories = directories;
  }

  /** Each directory checked (it must be one) and its .dockerignore read, before the build starts. */
  static async open(given: Readonly<Record<string, NamedContext>> | undefined): Promise<NamedContexts> {
    const images = new Map<string, string>();
    const directories = new Map<string, DirectoryContext>();
    for (const [name, context] of Object.entries(given ?? {})) {
      if (name === '' || name.includes('=')) throw new PolyarchError('USAGE', `build context name ${JSON.stringify(name)}: expected a stage or image name`);
      const key = contextKey(name);
      if ('image' in context) {
        images.set(key, context.image);
        continue;
      }
      const dir = resolve(context.directory);
      const facts = await stat(dir).catch(() => undefined);
      if (facts === undefined) throw new PolyarchError('NOT_FOUND', `build context ${name}: ${dir} does not exist`);
      if (!facts.isDirectory()) throw new PolyarchError('USAGE', `build context ${name}: ${dir} is not a directory`);
      directories.set(key, { dir, keep: await loadDockerignore(dir) });
    }
    return new NamedContexts(images, directories);
  }

  /** Whether `name` (a stage's name) is replaced by a context. */
  has(name: string): boolean {
    return this.image(name) !== undefined || this.directory(name) !== undefined;
  }

  /** The location of the image context `name` stands for, or undefined. */
  image(name: string): string | undefined {
    return this.#images.get(contextKey(name));
  }

  /** The directory context `name` stands for, or undefined. */
  directory(name: string): DirectoryContext | undefined {
    return this.#directories.get(contextKey(name));
  }
}

/**
 * How a name is looked up: as docker shortens an image's name (`docker.io/library/alpine:latest` is
 * `alpine`), as BuildKit looks a base image's name up; a stage's name is itself, in lower case.
 */
function contextKey(name: string): string {
  const lower = name.toLowerCase();
  try {
    return familiarString(parseReference(lower)).replace(/:latest$/, '');
  } catch {
    return lower;
  }
}
