import { join } from 'node:path';
import type { RegistrySettingsFiles, SettingsFileRef } from '../index.js';
import { userDirectory } from './user-directory.js';

/**
 * Where each tool keeps its file, as that tool looks for it: root reads /etc/buildkit and
 * /etc/docker, anyone else (rootless BuildKit and dockerd) `$XDG_CONFIG_HOME`. An environment
 * variable names another file (which must then exist) or, set empty, turns one off:
 * POLYARCH_REGISTRIES_CONFIG, POLYARCH_BUILDKITD_CONFIG, POLYARCH_DOCKER_DAEMON_CONFIG.
 */
export function defaultRegistrySettingsFiles(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 0): RegistrySettingsFiles {
  // With no home (and no XDG_CONFIG_HOME) there are no user files to read.
  const configHome = userDirectory(env, 'XDG_CONFIG_HOME', '.config');
  const rootless = uid !== 0;
  const pick = (variable: string, fallback: string | undefined): SettingsFileRef | undefined => {
    const named = env[variable];
    if (named === undefined) return fallback === undefined ? undefined : { path: fallback, optional: true };
    return named === '' ? undefined : { path: named };
  };
  const underConfig = (...parts: string[]) => (configHome === undefined ? undefined : join(configHome, ...parts));
  const polyarch = pick('POLYARCH_REGISTRIES_CONFIG', underConfig('polyarch', 'registries.toml'));
  const buildkitd = pick('POLYARCH_BUILDKITD_CONFIG', rootless ? underConfig('buildkit', 'buildkitd.toml') : '/etc/buildkit/buildkitd.toml');
  const dockerDaemon = pick('POLYARCH_DOCKER_DAEMON_CONFIG', rootless ? underConfig('docker', 'daemon.json') : '/etc/docker/daemon.json');
  return {
    ...(polyarch ? { polyarch } : {}),
    ...(buildkitd ? { buildkitd } : {}),
    ...(dockerDaemon ? { dockerDaemon } : {}),
  };
}
