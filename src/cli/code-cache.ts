// V8's code cache for one CommonJS file run through vm.Script, kept in the user's cache directory.
// The file is trusted only if it is this user's own: read without following a link, owned by this
// user, writable by no one else. V8 refuses data made by another V8 version or with other flags, but
// knows the source only by its length, so the file's name holds the source's hash.
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { isAscii } from 'node:buffer';
import { cachedDataVersionTag } from 'node:v8';
import { userDirectory } from './user-directory.js';

/** Larger than any cache of the bin (about 1 MB): a bigger file is not ours. */
const MAX_CACHE_BYTES = 64 * 1024 * 1024;
/** The files of this many versions of a script are kept: a few installed versions used in turn each keep theirs. */
const KEPT_VERSIONS = 4;
const SUFFIX = '.v8-cache';

/**
 * `$XDG_CACHE_HOME/polyarch/code` (or `~/.cache/polyarch/code`), beside the build cache; undefined
 * with NODE_DISABLE_COMPILE_CACHE set, which turns Node's own compile cache off too, or with no home.
 */
export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.NODE_DISABLE_COMPILE_CACHE) return undefined;
  const base = userDirectory(env, 'XDG_CACHE_HOME', '.cache');
  return base === undefined ? undefined : join(base, 'polyarch', 'code');
}

export interface CachedScript {
  /** What the file put in module.exports. */
  readonly exports: unknown;
  /** 'used': compiled from the cache; 'refused': V8 refused the cache file's data (another V8, other flags); 'none': no cache file of this user's; 'off': no directory. */
  readonly cache: 'used' | 'refused' | 'none' | 'off';
  /** Writes the cache if it was not used and V8's flags are still the ones it was compiled with (best effort: a cache directory that cannot be written only leaves it off). */
  readonly saveCache: () => void;
}

/** Reads a cache file if it is this user's regular file, written by nobody else; undefined otherwise. */
function readOwnFile(path: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const info = fstatSync(fd);
    const owner = process.getuid?.();
    if (!info.isFile() || info.size > MAX_CACHE_BYTES || (owner !== undefined && info.uid !== owner) || (info.mode & 0o022) !== 0) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Writes the data beside `path` and renames it into place (a link there is replaced, not followed); keeps the newest few versions' files. */
function writeCacheFile(path: string, data: Buffer): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, data, { mode: 0o600, flag: 'wx' });
    renameSync(temp, path);
  } finally {
    rmSync(temp, { force: true });
  }
  // A version is the source's hash, the first part of the name; its newest file dates it.
  const newest = new Map<string, number>();
  const names = readdirSync(dir).filter((name) => name.endsWith(SUFFIX));
  for (const name of names) {
    const at = statSync(join(dir, name), { throwIfNoEntry: false })?.mtimeMs ?? 0;
    const version = versionOf(name);
    newest.set(version, Math.max(newest.get(version) ?? 0, at));
  }
  newest.set(versionOf(basename(path)), Number.POSITIVE_INFINITY);
  const kept = new Set([...newest].sort((a, b) => b[1] - a[1]).slice(0, KEPT_VERSIONS).map(([version]) => version));
  for (const name of names) if (!kept.has(versionOf(name))) rmSync(join(dir, name), { force: true });
}

/** Hex digits of the source's sha256 that start a cache file's name. */
const HASH_CHARS = 32;

/** The source hash a cache file's name starts with. */
function versionOf(name: string): string {
  return name.slice(0, HASH_CHARS);
}

/**
 * Runs a CommonJS file as `require` would, compiled from the code cache in `cacheDir` when there is
 * a good one. `variant` names what the run does (the CLI's command): V8 caches the functions the run
 * compiled, so each variant keeps a file of its own.
 */
export function requireWithCodeCache(file: string, cacheDir: string | undefined, variant = 'any'): CachedScript {
  const bytes = readFileSync(file);
  // The bundle is ASCII (scripts/bundle-cli.mjs sees to it): as Latin-1 it becomes a string with
  // no decoding, where UTF-8 took 10 ms for the bin's 1.2 MB.
  const source = bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
  const name = `${createHash('sha256').update(bytes).digest('hex').slice(0, HASH_CHARS)}-${/^[a-z0-9-]{1,40}$/.test(variant) ? variant : 'any'}${SUFFIX}`;
  const cachePath = cacheDir === undefined ? undefined : join(cacheDir, name);
  const cachedData = cachePath === undefined ? undefined : readOwnFile(cachePath);
  // The wrapper CommonJS modules get, on the first line: line numbers in stack traces stay the file's.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source.replace(/^#!.*/, '')}\n})`, { filename: file, ...(cachedData ? { cachedData } : {}) });
  const used = cachedData !== undefined && script.cachedDataRejected !== true;
  // V8 flags set at run time change this tag, and data made after that is refused by the next run
  // (which compiles before setting them). The CLI sets its commands' flags before loading their
  // code (v8-flags.ts); a flag set later still leaves that run's data unwritten.
  const tag = cachedDataVersionTag();
  const module = { exports: {} as unknown };
  const run = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string) => void;
  run(module.exports, createRequire(file), module, file, dirname(file));
  let saved = false;
  return {
    exports: module.exports,
    cache: cachePath === undefined ? 'off' : used ? 'used' : cachedData !== undefined ? 'refused' : 'none',
    saveCache: () => {
      if (cachePath === undefined || used || saved || cachedDataVersionTag() !== tag) return;
      saved = true;
      try {
        writeCacheFile(cachePath, script.createCachedData());
      } catch {
        // Without a cache the next run compiles again, as it would have.
      }
    },
  };
}
