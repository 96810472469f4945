// Where each platform's archive of a bundle goes: the `-o` pattern with `{os}`, `{arch}` and
// `{variant}` filled in from the requested platform. The values are checked against a file-name-safe
// form of the platform grammar, so no platform (however it was written) can add a directory, climb
// with `..` or break a SHA256SUMS line.
import { resolve } from 'node:path';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { Platform } from '../platform/platform.js';
import { formatPlatform } from '../platform/platform.js';

const PLACEHOLDER = /\{(os|arch|variant)\}/g;
/** A platform component as a file name part: starts with a letter, digit or `_` (so never `.` or `..`), no `/`. */
const SAFE_VALUE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Whether an output path names `{os}`, `{arch}` or `{variant}`. */
export function hasPlaceholders(pattern: string): boolean {
  return /\{(os|arch|variant)\}/.test(pattern);
}

function safe(value: string, placeholder: string, platform: Platform): string {
  if (value === '' && placeholder === 'variant') return value;
  if (!SAFE_VALUE.test(value) || value.length > 64) {
    throw new PolyarchError('INVALID_PLATFORM', `platform ${JSON.stringify(formatPlatform(platform))}: {${placeholder}} value ${JSON.stringify(value)} cannot be part of a file name`);
  }
  return value;
}

/** The pattern with one platform's values; only `{os}`, `{arch}` and `{variant}` are replaced. */
export function expandOutput(pattern: string, platform: Platform): string {
  return pattern.replace(PLACEHOLDER, (_match, name: string) => {
    const value = name === 'os' ? platform.os : name === 'arch' ? platform.architecture : (platform.variant ?? '');
    return safe(value, name, platform);
  });
}

/**
 * One absolute archive path per platform, in order. Several platforms need a pattern whose
 * placeholders tell their archives apart; names that a SHA256SUMS line cannot hold are refused.
 */
export function outputPaths(pattern: string, platforms: readonly Platform[]): string[] {
  if (pattern === '') throw new PolyarchError('USAGE', 'bundle: the output name (-o) is empty');
  if (platforms.length > 1 && !hasPlaceholders(pattern)) {
    throw new PolyarchError('USAGE', `bundle: -o ${JSON.stringify(pattern)} has no {os}, {arch} or {variant}, so ${platforms.length} platforms would write one file`);
  }
  if (/[\n\r\\]/.test(pattern)) throw new PolyarchError('USAGE', `bundle: -o ${JSON.stringify(pattern)}: line breaks and backslashes cannot be listed in SHA256SUMS`);
  const paths = platforms.map((p) => resolve(expandOutput(pattern, p)));
  for (let i = 0; i < paths.length; i++) {
    const j = paths.indexOf(paths[i] as string);
    if (j !== i) {
      throw new PolyarchError('USAGE', `bundle: -o ${JSON.stringify(pattern)} gives ${formatPlatform(platforms[j] as Platform)} and ${formatPlatform(platforms[i] as Platform)} the same file ${paths[i]}`);
    }
  }
  return paths;
}
