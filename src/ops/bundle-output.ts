// Where each platform's archive of a bundle goes: the `-o` pattern with `{os}`, `{arch}` and
// `{variant}` filled in from the requested platform. The values are checked against a file-name-safe
// form of the platform grammar, so no platform (however it was written) can add a directory, climb
// with `..` or break a SHA256SUMS line.
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PolyarchError } from '../errors/polyarch-error.js';
import { archiveTargetProblem } from '../internal/archive-target.js';
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
  const unknown = [...pattern.matchAll(/\{([^{}]*)\}/g)].find((m) => !['os', 'arch', 'variant'].includes(m[1]!));
  if (unknown) throw new PolyarchError('USAGE', `bundle: -o ${JSON.stringify(pattern)}: ${unknown[0]} is no placeholder (there are {os}, {arch} and {variant})`);
  const paths = platforms.map((p) => resolve(expandOutput(pattern, p)));
  for (let i = 0; i < paths.length; i++) {
    const j = paths.indexOf(paths[i] as string);
    if (j !== i) {
      throw new PolyarchError('USAGE', `bundle: -o ${JSON.stringify(pattern)} gives ${formatPlatform(platforms[j] as Platform)} and ${formatPlatform(platforms[i] as Platform)} the same file ${paths[i]}`);
    }
  }
  return paths;
}

/**
 * Refuses archive paths that cannot be written: a file where a directory must be (missing
 * directories are made), or anything but a regular file where the archive goes (a directory,
 * a link, a device). Said before anything is fetched, not once the archive is written.
 */
export function checkOutputPlaces(pattern: string, paths: readonly string[]): void {
  // Missing, or below a file (ENOTDIR): the walk up finds what is there.
  const statOrNone = (path: string) => {
    try {
      return statSync(path);
    } catch {
      return undefined;
    }
  };
  for (const path of paths) {
    const problem = archiveTargetProblem(path);
    if (problem !== undefined) throw new PolyarchError('USAGE', `bundle: -o ${JSON.stringify(pattern)}: ${problem}`);
    let dir = dirname(path);
    let found = statOrNone(dir);
    while (found === undefined && dirname(dir) !== dir) {
      dir = dirname(dir);
      found = statOrNone(dir);
    }
    if (found !== undefined && !found.isDirectory()) throw new PolyarchError('USAGE', `bundle: -o ${JSON.stringify(pattern)}: ${dir} is not a directory`);
  }
}
