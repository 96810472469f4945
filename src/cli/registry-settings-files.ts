import { homedir } from 'node:os';
import { join } from 'node:path';
import type { RegistrySettingsFiles, SettingsFileRef } from '../index.js';

/**
 * Where each tool keeps its file, as that tool looks for it: root reads /etc/buildkit and
 * /etc/docker, anyone else (rootless BuildKit and dockerd) `$XDG_CONFIG_HOME`. An environment
 * variable names another file (which must then exist) or, set empty, turns one off:
 * POLYARCH_REGISTRIES_CONFIG, POLYARCH_BUILDKITD_CONFIG, POLYARCH_DOCKER_DAEMON_CONFIG.
 */
export function defaultRegistrySettingsFiles(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 0): RegistrySettingsFiles {
  const configHome = env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  const rootless = uid !== 0;
  const pick = (variable: string, fallback: string): SettingsFileRef | undefined => {
    const named = env[variable];
    if (named === undefined) return { path: fallback, optional: true };
    return named === '' ? undefined : { path: named };
  };
  const polyarch = pick('POLYARCH_REGISTRIES_CONFIG', join(configHome, 'polyarch', 'registries.toml'));
  const buildkitd = pick('POLYARCH_BUILDKITD_CONFIG', rootless ? join(configHome, 'buildkit', 'buildkitd.toml') : '/etc/buildkit/buildkitd.toml');
  const dockerDaemon = pick('POLYARCH_DOCKER_DAEMON_CONFIG', rootless ? join(configHome, 'docker', 'daemon.json') : '/etc/docker/daemon.json');
  return {
    ...(polyarch ? { polyarch } : {}),
    ...(buildkitd ? { buildkitd } : {}),
    ...(dockerDaemon ? { dockerDaemon } : {}),
  };
}
