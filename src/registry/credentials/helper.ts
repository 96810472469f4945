// docker credential helpers: `docker-credential-<name> get|store|erase`, JSON over stdin/stdout
// (docker/docker-credential-helpers client protocol).
import { spawn } from 'node:child_process';
import { PolyarchError } from '../../errors/polyarch-error.js';

export interface HelperCredentials {
  readonly username: string;
  readonly secret: string;
}

export interface HelperOptions {
  /** Credentials to store (action 'store'). */
  readonly credentials?: HelperCredentials | undefined;
  /** Environment for the helper (PATH decides which program runs); defaults to the process's. */
  readonly env?: NodeJS.ProcessEnv | undefined;
  readonly signal?: AbortSignal | undefined;
}

export type HelperAction = 'get' | 'store' | 'erase';

const NOT_FOUND = /credentials not found/i;

/**
 * Runs a helper. `get` resolves to the credentials, or undefined when the helper has none;
 * `store` and `erase` resolve to undefined. Secrets never appear in errors.
 */
export async function runCredentialHelper(name: string, serverUrl: string, action: HelperAction, options: HelperOptions = {}): Promise<HelperCredentials | undefined> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new PolyarchError('USAGE', `invalid credential helper name "${name}"`);
  const program = `docker-credential-${name}`;
  let input: string;
  if (action === 'store') {
    if (!options.credentials) throw new PolyarchError('USAGE', `${program} store: no credentials given`);
    input = JSON.stringify({ ServerURL: serverUrl, Username: options.credentials.username, Secret: options.credentials.secret });
  } else {
    input = serverUrl;
  }
  const { code, stdout, stderr } = await run(program, action, input, options);
  const said = (stdout.trim() || stderr.trim()).split('\n')[0]?.trim() ?? '';
  if (code !== 0) {
    if ((action === 'get' || action === 'erase') && NOT_FOUND.test(said)) return undefined;
    throw new PolyarchError('UNAUTHORIZED', `credential helper ${program} ${action} for ${serverUrl} failed (exit ${code})${said && action !== 'store' ? `: ${said}` : ''}`);
  }
  if (action !== 'get') return undefined;
  let body: { Username?: unknown; Secret?: unknown };
  try {
    body = JSON.parse(stdout) as typeof body;
  } catch {
    throw new PolyarchError('UNAUTHORIZED', `credential helper ${program} get for ${serverUrl} printed something that is not JSON`);
  }
  if (typeof body.Secret !== 'string' || body.Secret === '') return undefined;
  return { username: typeof body.Username === 'string' ? body.Username : '', secret: body.Secret };
}

function run(program: string, action: HelperAction, input: string, options: HelperOptions): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.env ? { env: options.env } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => {
      // The helper may exit without reading its input; its exit code tells what happened.
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (options.signal?.aborted) reject(options.signal.reason);
      else if (error.code === 'ENOENT') reject(new PolyarchError('NOT_FOUND', `credential helper ${program} is not installed (not found in PATH)`, { cause: error }));
      else reject(new PolyarchError('UNKNOWN', `credential helper ${program} could not run: ${error.message}`, { cause: error }));
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(input);
  });
}
