import type { Command } from 'commander';
import type { ConnectionOptions } from '../index.js';
import { integerOption } from './option-parsers.js';

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

export function addGlobalOptions(program: Command): Command {
  return program
    .option('--insecure', 'allow plain HTTP and unverified TLS for the registries named on the command line')
    .option('--ca-file <file>', 'trust this CA certificate (PEM) for registry TLS')
    .option('--registry-config <dir>', "docker's config directory for credentials (default: $DOCKER_CONFIG or ~/.docker)")
    .option('--json', 'print results as JSON')
    .option('-q, --quiet', 'print only what scripts need (digests, names)')
    .option('--timeout <seconds>', 'how long a registry connection may stay silent before it counts as cut (default 60)', integerOption('--timeout', 1, 86400))
    .option('--debug', 'show the cause chain of errors');
}

export function globalsOf(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** The library's connection options from the global flags. */
export function connectionOptions(globals: GlobalOptions, signal: AbortSignal): ConnectionOptions & { signal: AbortSignal } {
  return {
    signal,
    ...(globals.insecure ? { insecure: true } : {}),
    ...(globals.caFile !== undefined ? { caFile: globals.caFile } : {}),
    ...(globals.registryConfig !== undefined ? { registryConfigDir: globals.registryConfig } : {}),
    ...(globals.timeout !== undefined ? { timeoutMs: globals.timeout * 1000 } : {}),
  };
}
