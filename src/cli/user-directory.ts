// The CLI's defaults under the user's home: code cache, settings files, the server's root. The
// command definitions use them before the library loads (cli imports only the library's index, and
// `--help` must not load it), so this is the CLI's own copy of the library's internal/home.ts rule.
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * `$variable` when set and not empty, else `underHome` in the home directory; undefined when there
 * is neither (HOME unset and no entry for this uid in the user database, where os.homedir() throws).
 */
export function userDirectory(env: NodeJS.ProcessEnv, variable: string, underHome: string): string | undefined {
  const named = env[variable];
  if (named !== undefined && named !== '') return named;
  try {
    const home = homedir();
    return home === '' ? undefined : join(home, underHome);
  } catch {
    return undefined;
  }
}
