// RUN's flags as BuildKit's Dockerfile frontend reads them: `--mount` (repeatable; a CSV list of
// key=value options per mount), `--network` and `--security`. Parsing only: what a mount names is
// found and made ready in run-mounts.ts.
import { posix } from 'node:path';
import { parseByteSize } from '../cache/build-cache.js';
import { badDockerfile, flagValue, flagValues, type Instruction } from '../dockerfile.js';
import type { NetworkMode } from '../executor/executor.js';

export type CacheSharing = 'shared' | 'private' | 'locked';

/** `type=bind`: a path of the build context, a stage or an image, read-only unless `rw`. */
export interface BindMountSpec {
  readonly type: 'bind';
  readonly target: string;
  /** Inside the source; `/` (all of it) when not given. */
  readonly source: string;
  /** A stage (name or index) or an image reference; the build context when absent. */
  readonly from?: string;
  readonly readWrite: boolean;
}

/** `type=cache`: a directory kept across builds, per id and platform. */
export interface CacheMountSpec {
  readonly type: 'cache';
  readonly target: string;
  readonly id: string;
  readonly readOnly: boolean;
  readonly sharing: CacheSharing;
  /** Without `from`: a directory inside the cache to mount; with it: what seeds a new cache. */
  readonly source: string;
  readonly from?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/** `type=tmpfs`: an empty in-memory directory for the step. */
export interface TmpfsMountSpec {
  readonly type: 'tmpfs';
  readonly target: string;
  readonly sizeBytes?: number;
}

/** `type=secret`: a value the caller gave the build, as a file, an environment variable, or both. */
export interface SecretMountSpec {
  readonly type: 'secret';
  readonly id: string;
  /** The file; absent when only `env` was asked for. */
  readonly target?: string;
  readonly env?: string;
  readonly required: boolean;
  readonly mode: number;
  readonly uid?: number;
  readonly gid?: number;
}

export type RunMountSpec = BindMountSpec | CacheMountSpec | TmpfsMountSpec | SecretMountSpec;

export interface RunFlags {
  readonly mounts: readonly RunMountSpec[];
  readonly network: NetworkMode;
}

/** One CSV record (BuildKit reads --mount with a CSV reader): commas split fields, double quotes protect them. */
function csvFields(text: string): string[] | undefined {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let at = 0; at < text.length; at++) {
    const c = text[at]!;
    if (quoted) {
      if (c === '"' && text[at + 1] === '"') {
        field += '"';
        at++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  if (quoted) return undefined;
  fields.push(field);
  return fields;
}

const BOOLEAN: Readonly<Record<string, boolean>> = { '1': true, t: true, true: true, '0': false, f: false, false: false };

/** An absolute target; a relative one is taken from the working directory, as BuildKit does. */
function absoluteTarget(target: string, workdir: string): string {
  return posix.resolve('/', workdir, target);
}

interface Fail {
  (why: string): never;
}

function parseBool(key: string, value: string, fail: Fail): boolean {
  const parsed = BOOLEAN[value.toLowerCase()];
  if (parsed === undefined) fail(`invalid value ${JSON.stringify(value)} for ${key}`);
  return parsed;
}

function parseId(key: string, value: string, fail: Fail): number {
  if (!/^\d{1,10}$/.test(value) || Number(value) > 0xfffffffe) fail(`invalid value ${JSON.stringify(value)} for ${key}`);
  return Number(value);
}

function parseMode(value: string, fail: Fail): number {
  if (!/^[0-7]{1,4}$/.test(value)) fail(`invalid value ${JSON.stringify(value)} for mode (octal, e.g. 0755)`);
  return Number.parseInt(value, 8);
}

const TYPES = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];

/** One `--mount` value, its values substituted with `sub`; errors name the Dockerfile line. */
export function parseMount(text: string, workdir: string, sub: (value: string) => string, file: string, line: number): RunMountSpec {
  const fail: Fail = (why) => {
    throw badDockerfile(file, line, `RUN --mount=${text}: ${why}`);
  };
  const fields = csvFields(text);
  if (fields === undefined) fail('unterminated quote');
  let type = 'bind';
  let target: string | undefined;
  let source: string | undefined;
  let from: string | undefined;
  let id: string | undefined;
  let readOnly: boolean | undefined;
  let sharing: CacheSharing | undefined;
  let required: boolean | undefined;
  let sizeBytes: number | undefined;
  let env: string | undefined;
  let mode: number | undefined;
  let uid: number | undefined;
  let gid: number | undefined;
  for (const field of fields) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === 'ro' || key === 'readonly') readOnly = true;
      else if (key === 'rw' || key === 'readwrite') readOnly = false;
      else if (key === 'required') required = true;
      else fail(`option ${JSON.stringify(field)} must be a key=value pair`);
      continue;
    }
    const value = sub(field.slice(eq + 1));
    switch (key) {
      case 'type':
        type = value.toLowerCase();
        if (!TYPES.includes(type)) fail(`unknown mount type ${JSON.stringify(value)} (bind, cache, tmpfs, secret)`);
        break;
      case 'target':
      case 'dst':
      case 'destination':
        target = value;
        break;
      case 'source':
      case 'src':
        source = value;
        break;
      case 'from':
        from = value;
        break;
      case 'id':
        id = value;
        break;
      case 'ro':
      case 'readonly':
        readOnly = parseBool(key, value, fail);
        break;
      case 'rw':
      case 'readwrite':
        readOnly = !parseBool(key, value, fail);
        break;
      case 'required':
        required = parseBool(key, value, fail);
        break;
      case 'sharing': {
        const s = value.toLowerCase();
        if (s !== 'shared' && s !== 'private' && s !== 'locked') fail(`unknown sharing ${JSON.stringify(value)} (shared, private, locked)`);
        sharing = s;
        break;
      }
      case 'size':
        try {
          sizeBytes = parseByteSize(value);
        } catch {
          fail(`invalid size ${JSON.stringify(value)}`);
        }
        break;
      case 'mode':
        mode = parseMode(value, fail);
        break;
      case 'uid':
        uid = parseId(key, value, fail);
        break;
      case 'gid':
        gid = parseId(key, value, fail);
        break;
      case 'env':
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) fail(`env=${JSON.stringify(value)} is not a variable name`);
        env = value;
        break;
      default:
        fail(`unknown option ${JSON.stringify(key)}`);
    }
  }
  const only = (allowed: readonly string[], what: Record<string, unknown>) => {
    for (const [name, value] of Object.entries(what)) if (value !== undefined && !allowed.includes(name)) fail(`${name} is not an option of type=${type} mounts`);
  };
  const given = { target, source, from, id, sharing, required, size: sizeBytes, env, mode, uid, gid };
  const needTarget = (): string => {
    if (target === undefined || target === '') fail(`type=${type} needs a target`);
    const absolute = absoluteTarget(target, workdir);
    if (absolute === '/') fail('the target cannot be /');
    return absolute;
  };
  switch (type) {
    case 'ssh':
      throw badDockerfile(file, line, 'RUN --mount=type=ssh is not supported: polyarch forwards no SSH agent into steps');
    case 'bind':
      only(['target', 'source', 'from'], given);
      return { type: 'bind', target: needTarget(), source: source ?? '/', ...(from !== undefined && from !== '' ? { from } : {}), readWrite: readOnly === false };
    case 'cache': {
      only(['target', 'source', 'from', 'id', 'sharing', 'mode', 'uid', 'gid'], given);
      const absolute = needTarget();
      return {
        type: 'cache',
        target: absolute,
        id: id !== undefined && id !== '' ? id : posix.normalize(target!),
        readOnly: readOnly === true,
        sharing: sharing ?? 'shared',
        source: source ?? '/',
        ...(from !== undefined && from !== '' ? { from } : {}),
        ...(mode !== undefined ? { mode } : {}),
        ...(uid !== undefined ? { uid } : {}),
        ...(gid !== undefined ? { gid } : {}),
      };
    }
    case 'tmpfs':
      only(['target', 'size'], given);
      return { type: 'tmpfs', target: needTarget(), ...(sizeBytes !== undefined ? { sizeBytes } : {}) };
    default: {
      only(['target', 'source', 'id', 'required', 'env', 'mode', 'uid', 'gid'], given);
      if (source !== undefined && id !== undefined) fail('give id or source, not both');
      const named = id ?? source ?? (target !== undefined && target !== '' ? posix.basename(target) : undefined);
      if (named === undefined || named === '') fail('type=secret needs an id');
      // With env= alone the secret is only a variable; otherwise a file (by default under /run/secrets).
      const file = target !== undefined && target !== '' ? absoluteTarget(target, workdir) : env === undefined ? `/run/secrets/${posix.basename(named)}` : undefined;
      if (file === '/') fail('the target cannot be /');
      return {
        type: 'secret',
        id: named,
        ...(file !== undefined ? { target: file } : {}),
        ...(env !== undefined ? { env } : {}),
        required: required === true,
        mode: mode ?? 0o400,
        ...(uid !== undefined ? { uid } : {}),
        ...(gid !== undefined ? { gid } : {}),
      };
    }
  }
}

/** RUN's --mount, --network and --security flags. */
export function parseRunFlags(i: Instruction, workdir: string, sub: (value: string) => string, file: string): RunFlags {
  for (const name of i.flags.keys()) {
    if (name !== 'mount' && name !== 'network' && name !== 'security') throw badDockerfile(file, i.line, `RUN --${name} is not a RUN flag`);
  }
  const security = flagValue(i, 'security');
  if (security !== undefined) {
    const value = sub(security);
    if (value === 'insecure') throw badDockerfile(file, i.line, 'RUN --security=insecure is not supported: steps always run sandboxed');
    if (value !== 'sandbox') throw badDockerfile(file, i.line, `RUN --security=${value}: expected sandbox or insecure`);
  }
  const networkFlag = flagValue(i, 'network');
  const network = networkFlag === undefined ? 'default' : sub(networkFlag);
  if (network !== 'default' && network !== 'none' && network !== 'host') throw badDockerfile(file, i.line, `RUN --network=${network}: expected default, none or host`);
  const mounts = flagValues(i, 'mount').map((text) => parseMount(text, workdir, sub, file, i.line));
  const targets = new Set<string>();
  for (const m of mounts) {
    if (m.target === undefined) continue;
    if (targets.has(m.target)) throw badDockerfile(file, i.line, `RUN --mount: two mounts at ${m.target}`);
    targets.add(m.target);
  }
  return { mounts, network };
}

/** Where a relative mount target points for checkRunFlags: any directory but `/` (the real one is known only when the step runs). */
const SOME_WORKDIR = '/workdir';

/** What parseRunFlags would refuse in `i` that no variable can change, for a check before any step runs (a flag with `$` waits for its step). */
export function checkRunFlags(i: Instruction, file: string): void {
  if (![...i.flags.values()].flat().some((value) => value.includes('$'))) parseRunFlags(i, SOME_WORKDIR, (value) => value, file);
}
