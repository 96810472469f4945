// Build secrets as buildx takes them: `--secret id=ID[,src=FILE|,env=VAR][,type=file|env]`
// (`source=` for `src=`). Without src or env, the variable named like the id is used when it is
// set, else the file named like it. Values are read into memory once; a secret given by variable
// never touches the disk.
import { createReadStream } from 'node:fs';
import { PolyarchError } from '../errors/polyarch-error.js';
import { readAllLimited } from '../internal/streams.js';

/** BuildKit's limit for one secret (500 KiB): a secret is a token or a key file, never bulk data. */
export const MAX_SECRET_BYTES = 500 * 1024;

export interface SecretSpec {
  readonly id: string;
  readonly file?: string;
  readonly env?: string;
}

/** One `--secret` value (buildx grammar). */
export function parseSecretSpec(text: string): SecretSpec {
  let id: string | undefined;
  let type: string | undefined;
  let file: string | undefined;
  let env: string | undefined;
  for (const field of text.split(',')) {
    const eq = field.indexOf('=');
    if (eq <= 0) throw new PolyarchError('USAGE', `--secret ${text}: ${JSON.stringify(field)} must be a key=value pair`);
    const key = field.slice(0, eq).trim().toLowerCase();
    const value = field.slice(eq + 1);
    if (key === 'id') id = value;
    else if (key === 'src' || key === 'source') file = value;
    else if (key === 'env') env = value;
    else if (key === 'type') {
      if (value !== 'file' && value !== 'env') throw new PolyarchError('USAGE', `--secret ${text}: type must be file or env`);
      type = value;
    } else throw new PolyarchError('USAGE', `--secret ${text}: unknown key ${JSON.stringify(key)} (id, src, env, type)`);
  }
  if (id === undefined || id === '') throw new PolyarchError('USAGE', `--secret ${text}: needs id=`);
  if (file !== undefined && env !== undefined) throw new PolyarchError('USAGE', `--secret ${text}: give src or env, not both`);
  // type=env,src=VAR names a variable (buildx).
  if (type === 'env' && env === undefined && file !== undefined) return { id, env: file };
  if (type === 'env' && env === undefined) return { id, env: id };
  if (type === 'file' && file === undefined && env === undefined) return { id, file: id };
  return { id, ...(file !== undefined ? { file } : {}), ...(env !== undefined ? { env } : {}) };
}

/** The values of `--secret` specs by id; `env` is the caller's environment. A missing file or variable is one clear error. */
export async function readSecrets(specs: readonly string[], options: { readonly env: NodeJS.ProcessEnv }): Promise<Record<string, Uint8Array>> {
  const secrets: Record<string, Uint8Array> = {};
  for (const text of specs) {
    const spec = parseSecretSpec(text);
    let env = spec.env;
    let file = spec.file;
    if (env === undefined && file === undefined) {
      if (options.env[spec.id] !== undefined) env = spec.id;
      else file = spec.id;
    }
    if (env !== undefined) {
      const value = options.env[env];
      if (value === undefined) throw new PolyarchError('USAGE', `--secret id=${spec.id}: the environment variable ${env} is not set`);
      secrets[spec.id] = Buffer.from(value, 'utf8');
      if (secrets[spec.id]!.length > MAX_SECRET_BYTES) throw new PolyarchError('USAGE', `--secret id=${spec.id}: the value of ${env} is larger than ${MAX_SECRET_BYTES} bytes`);
      continue;
    }
    try {
      // Read with a bound: a path such as /dev/zero must end in an error, not fill the memory.
      secrets[spec.id] = await readAllLimited(createReadStream(file!), MAX_SECRET_BYTES, 'secret');
    } catch (error) {
      if (error instanceof RangeError) throw new PolyarchError('USAGE', `--secret id=${spec.id}: ${JSON.stringify(file)} is larger than ${MAX_SECRET_BYTES} bytes`);
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
      throw new PolyarchError('USAGE', `--secret id=${spec.id}: cannot read ${JSON.stringify(file)}: ${why}`);
    }
  }
  return secrets;
}
