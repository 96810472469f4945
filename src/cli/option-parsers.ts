import { resolve } from 'node:path';
import { PolyarchError, type ExtraHost, type NamedContext, type RunVolume } from '../index.js';

/** Repeated KEY=VALUE values (`--label`), or one USAGE line naming the flag; the last one given wins. */
export function keyValues(values: readonly string[], flag: string): Record<string, string> {
  return Object.fromEntries(
    values.map((v) => {
      const eq = v.indexOf('=');
      if (eq <= 0) throw new PolyarchError('USAGE', `${flag} ${v}: expected KEY=VALUE`);
      return [v.slice(0, eq), v.slice(eq + 1)];
    }),
  );
}

/**
 * Repeated KEY=VALUE values, or KEY alone for the value this process's environment has (none: not
 * given), as docker takes `--build-arg` and `docker run -e`; the last one given wins.
 */
export function keyValuesOrEnvironment(values: readonly string[], flag: string): Record<string, string> {
  const given: Record<string, string> = {};
  for (const v of values) {
    if (v.includes('=')) Object.assign(given, keyValues([v], flag));
    else if (v === '') throw new PolyarchError('USAGE', `${flag}: expected KEY=VALUE, or a variable name to take from the environment`);
    else if (process.env[v] !== undefined) given[v] = process.env[v];
  }
  return given;
}

/**
 * `docker run -v`'s `HOST:PATH[:ro|rw]`, the host path absolute or relative to the working directory
 * (`./dir`, `.`, `../x`, as docker reads a path that starts with a dot). A bare name is a docker
 * named volume, which only a daemon keeps: refused in one line, as is an option other than ro or rw.
 */
export function parseVolume(text: string): RunVolume {
  const [source = '', target = '', options, ...rest] = text.split(':');
  const what = `-v ${JSON.stringify(text)}`;
  if (source === '' || target === '' || rest.length > 0) throw new PolyarchError('USAGE', `${what}: expected HOST-PATH:PATH-IN-IMAGE[:ro]`);
  if (!source.startsWith('/') && !source.startsWith('.')) {
    throw new PolyarchError('USAGE', `${what}: "${source}" would be a named volume, which needs a docker daemon; give a host path (/abs/dir or ./dir)`);
  }
  const flags = options === undefined ? [] : options.split(',');
  const unknown = flags.find((f) => f !== 'ro' && f !== 'rw');
  if (unknown !== undefined) throw new PolyarchError('USAGE', `${what}: unknown option ${JSON.stringify(unknown)} (ro or rw)`);
  return { source: resolve(source), target, readOnly: flags.at(-1) === 'ro' };
}

/**
 * buildx's `--build-context NAME=VALUE`s: `docker-image://REF` and `oci-layout://DIR[:TAG][@DIGEST]`
 * are images (the latter polyarch's `oci:` location), any other value a directory (relative to the
 * working directory). Git, URL, bake `target:` and `input:` contexts are refused in one line.
 */
export function parseBuildContexts(values: readonly string[]): Record<string, NamedContext> {
  const contexts: Record<string, NamedContext> = {};
  for (const text of values) {
    const eq = text.indexOf('=');
    const name = text.slice(0, eq);
    const value = text.slice(eq + 1);
    if (eq <= 0 || value === '') throw new PolyarchError('USAGE', `--build-context ${text}: expected NAME=DIR, NAME=docker-image://REF or NAME=oci-layout://DIR[:TAG]`);
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
    if (scheme === 'docker-image' || scheme === 'oci-layout') {
      const rest = value.slice(scheme.length + 3);
      if (rest === '') throw new PolyarchError('USAGE', `--build-context ${text}: ${scheme}:// names nothing`);
      contexts[name] = { image: scheme === 'docker-image' ? rest : `oci:${rest}` };
    } else if (scheme !== undefined || /^(git@|target:|input:)/.test(value)) {
      throw new PolyarchError('USAGE', `--build-context ${text}: only a directory, docker-image:// or oci-layout:// context is taken (no Git, URL or bake context)`);
    } else {
      contexts[name] = { directory: value }; // resolved against the working directory by the library
    }
  }
  return contexts;
}

/**
 * docker's `--add-host NAME:IP` (or `NAME=IP`; an IPv6 address may be in brackets). `host-gateway`
 * is 127.0.0.1: steps share the host's network, where that address is the host.
 */
export function parseExtraHost(text: string): ExtraHost {
  const eq = text.indexOf('=');
  const cut = eq >= 0 ? eq : text.indexOf(':');
  const name = text.slice(0, cut);
  const address = text.slice(cut + 1).replace(/^\[(.*)\]$/, '$1');
  if (cut <= 0) throw new PolyarchError('USAGE', `--add-host ${text}: expected NAME:IP`);
  // The name and the address are checked where /etc/hosts is written (the executor).
  return { name, ip: address === 'host-gateway' ? '127.0.0.1' : address };
}

/** A word as Go's strconv.ParseBool reads it (buildx and skopeo read their flags so), or undefined. */
export function goBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(text)) return false;
  return undefined;
}

/**
 * A whole decimal number within [min, max], or one USAGE line naming the flag. Stricter than
 * Number(): '', ' ', '1e3', '0x10' and '-1' are all refused rather than read as something else.
 */
export function parseInteger(text: string, flag: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(text)) throw new PolyarchError('USAGE', `${flag} "${text}" is not a whole number`);
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new PolyarchError('USAGE', `${flag} ${text} is out of range (${min}–${max})`);
  return value;
}

/** The same as a commander argument parser: `.option('--n <n>', '…', integerOption('--n', 1, 64), 6)`. */
export function integerOption(flag: string, min: number, max: number): (text: string) => number {
  return (text) => parseInteger(text, flag, min, max);
}

/** A repeatable option's parser: each occurrence adds its value to the list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--network` of build and run, as docker takes it, or one USAGE line. */
export function parseNetworkMode(text: string): 'default' | 'host' | 'none' {
  if (text === 'default' || text === 'host' || text === 'none') return text;
  throw new PolyarchError('USAGE', `--network ${text}: expected default, host or none`);
}

/** auto: tty on a terminal, plain otherwise (progress-view.ts). */
export const PROGRESS_MODES = ['auto', 'tty', 'plain', 'quiet'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/** The mode `--progress` names, or one USAGE line. */
export function parseProgressMode(text: string): ProgressMode {
  const mode = PROGRESS_MODES.find((m) => m === text);
  if (mode === undefined) throw new PolyarchError('USAGE', `--progress ${JSON.stringify(text)}: expected ${PROGRESS_MODES.slice(0, -1).join(', ')} or ${PROGRESS_MODES.at(-1)}`);
  return mode;
}
