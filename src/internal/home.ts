// Default places under the user's home (caches, docker's config). os.homedir() throws when HOME is
// unset and the user database has no entry for this uid, as in a container run as an arbitrary
// user; a default path built from it at load time stopped every command with a stack trace.
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The home directory, or undefined when this user has none. */
function homeDirectory(): string | undefined {
  try {
    const home = homedir();
    return home === '' ? undefined : home;
  } catch {
    return undefined;
  }
}

/** `$variable` when set and not empty, else `underHome` in the home directory; undefined when there is neither. */
export function userDirectory(env: NodeJS.ProcessEnv, variable: string, underHome: string): string | undefined {
  const named = env[variable];
  if (named !== undefined && named !== '') return named;
  const home = homeDirectory();
  return home === undefined ? undefined : join(home, underHome);
}

/** Why userDirectory found none, for an error line: which variable to set. */
export function noUserDirectory(variable: string): string {
  return `${variable} is not set and there is no home directory (HOME is not set, and user ${process.getuid?.() ?? '?'} has none in the user database); set ${variable} or HOME`;
}
