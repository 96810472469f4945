import type { Command } from 'commander';
import type { ConnectionOptions } from '../index.js';
import { defaultRegistrySettingsFiles } from './registry-settings-files.js';

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
