import type { Command } from 'commander';
import type { ConnectionOptions } from '../index.js';
import { defaultRegistrySettingsFiles } from './registry-settings-files.js';
import type { OptionSpec } from './command-spec.js';

/** Options every command takes (DESIGN §3). */
export interface GlobalOptions {
  readonly insecure?: boolean;
  readonly caFile?: string;
  readonly registryConfig?: string;
  readonly json?: boolean;
  readonly quiet?: boolean;
  readonly debug?: boolean;
  readonly timeout?: number;
}

/** The options on the program itself, which every command reads through globalsOf. */
export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { flags: '--insecure', description: 'allow plain HTTP and unverified TLS for the registries named on the command line' },
  { flags: '--ca-file <file>', description: 'trust this CA certificate (PEM) for registry TLS' },
  { flags: '--registry-config <dir>', description: "docker's config directory for credentials (default: $DOCKER_CONFIG or ~/.docker)" },
  { flags: '--json', description: 'print results as JSON' },
  { flags: '-q, --quiet', description: 'print only what scripts need (digests, names)' },
  { flags: '--timeout <seconds>', description: 'how long a registry connection may stay silent before it counts as cut (default 60)', parse: { kind: 'integer', min: 1, max: 86400 } },
  { flags: '--debug', description: 'show the cause chain of errors' },
];

export function globalsOf(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** The library's connection options from the global flags, with the registry settings files users keep. */
export function connectionOptions(globals: GlobalOptions, signal: AbortSignal): ConnectionOptions & { signal: AbortSignal } {
  return {
    signal,
    registrySettings: defaultRegistrySettingsFiles(process.env),
    ...(globals.insecure ? { insecure: true } : {}),
    ...(globals.caFile !== undefined ? { caFile: globals.caFile } : {}),
    ...(globals.registryConfig !== undefined ? { registryConfigDir: globals.registryConfig } : {}),
    ...(globals.timeout !== undefined ? { timeoutMs: globals.timeout * 1000 } : {}),
  };
}
