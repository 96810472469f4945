import type { OptionSpec } from '../command-spec.js';

/** The options on the program itself, which every command reads through globalsOf (global-options.ts). */
export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { flags: '--insecure', description: 'allow plain HTTP and unverified TLS for the registries named on the command line' },
  { flags: '--ca-file <file>', description: 'trust this CA certificate (PEM) for registry TLS' },
  { flags: '--registry-config <dir>', description: "docker's config directory for credentials (default: $DOCKER_CONFIG or ~/.docker)" },
  { flags: '--json', description: 'print results as JSON' },
  { flags: '-q, --quiet', description: 'print only what scripts need (digests, names)' },
  { flags: '--timeout <seconds>', description: 'how long a registry connection may stay silent before it counts as cut (default 60); a cut request is tried up to 3 more times, with back-off, before the error', parse: { kind: 'integer', min: 1, max: 86400 } },
  { flags: '--debug', description: 'show the cause chain of errors' },
];
