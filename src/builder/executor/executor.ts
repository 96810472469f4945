// How a build runs one step (a RUN, or `polyarch run`) inside a stage's root filesystem. The build
// receives an Executor as an option, so it never knows which sandbox runs the step: bubblewrap on
// Linux today (bubblewrap.ts), something else later, a recording fake nowhere (tests run the real one).
import { isIP } from 'node:net';
import { posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { PolyarchError } from '../../errors/polyarch-error.js';
import { LinkLoopError, resolveInRoot } from '../../internal/contained-path.js';
import type { Platform } from '../../platform/platform.js';
import { makeDirectories } from '../../internal/make-directories.js';

/** What to run: the argv itself. The shell form (`RUN echo hi`) is turned into `[...SHELL, 'echo hi']` by the caller. */
export interface RunStep {
  /** argv[0] is looked up in the step's PATH inside the root when it has no slash, as execvp does. */
  readonly args: readonly string[];
}

/**
 * A host directory made visible at `target` (an absolute path inside the root). Read-only unless
 * `readOnly: false`: Dockerfile `--mount=type=bind` is read-only by default, `type=cache` is not.
 */
export interface BindMount {
  readonly type: 'bind';
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

/** An empty, private tmpfs at `target` (`--mount=type=tmpfs`): gone when the step ends. */
export interface TmpfsMount {
  readonly type: 'tmpfs';
  readonly target: string;
  /** Upper bound in bytes; the kernel's default (half the memory) when omitted. */
  readonly sizeBytes?: number;
  /** Permission bits of the mount's root (default 0o755). */
  readonly mode?: number;
}

/**
 * A read-only file at `target` holding `content`, never written to the root (`--mount=type=secret`:
 * the bytes come from memory, so a secret given by environment variable never touches the disk).
 */
export interface DataMount {
  readonly type: 'data';
  readonly target: string;
  readonly content: string | Uint8Array;
  /** Permission bits of the file (default 0o400, as BuildKit's secrets). */
  readonly mode?: number;
  /** Owner of the file inside the step (default 0:0, as BuildKit's secrets). */
  readonly uid?: number;
  readonly gid?: number;
}

/** One mount a step asked for. Targets are resolved inside the root (symlinks there cannot lead outside it). */
export type Mount = BindMount | TmpfsMount | DataMount;

/** A name and the address /etc/hosts gives it (`--add-host NAME:IP`). */
export interface ExtraHost {
  readonly name: string;
  readonly ip: string;
}

/** One USAGE line unless each is a host name and an IP address: a space or a line break in a name would add names no one gave. */
export function checkExtraHosts(extra: readonly ExtraHost[]): void {
  for (const { name, ip } of extra) {
    if (name === '' || /[\s#]/.test(name)) throw new PolyarchError('USAGE', `--add-host (extraHosts) ${JSON.stringify(name)}: not a host name`);
    if (isIP(ip) === 0) throw new PolyarchError('USAGE', `--add-host (extraHosts) ${name}: ${JSON.stringify(ip)} is not an IP address`);
  }
}

/**
 * `default`: the host's network (no separate bridge without a daemon, as buildah's chroot isolation);
 * `host`: the same, said explicitly; `none`: a private network namespace with only `lo`.
 */
export type NetworkMode = 'default' | 'none' | 'host';

/**
 * How a caller passes signals on to a running command, as docker run passes on the ones it gets:
 * the executor calls it once the command has started, with a function that delivers one signal to
 * the command, and calls what it returns once the command has ended.
 */
export type SignalPassing = (deliver: (signal: NodeJS.Signals) => void) => () => void;

export interface RunOptions {
  /** The stage's root filesystem on the host: mounted read-write as `/`, the step's writes land there. Absolute and trusted (its contents are not). */
  readonly rootfs: string;
  /** The platform the root's binaries are for; foreign ones run through the kernel's binfmt_misc handlers. */
  readonly platform: Platform;
  /**
   * The step's whole environment: nothing of the caller's leaks in. Set PATH here. The additions
   * are PWD, set to `cwd` (bubblewrap always sets it; every shell would too), and HOME when this
   * leaves it unset: the user's home in the root's /etc/passwd, else `/`, as runc sets it.
   */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory inside the root (absolute); it must exist (WORKDIR creates it). */
  readonly cwd: string;
  /** `uid[:gid]` or `name[:group]`, names looked up in the root's /etc/passwd and /etc/group; empty means root. */
  readonly user: string;
  readonly mounts: readonly Mount[];
  readonly network: NetworkMode;
  /** Fed to the step's standard input; it reads end-of-file when omitted. */
  readonly stdin?: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Host name inside the step (default "polyarch"; the host's own with network `host`). */
  readonly hostname?: string;
  /** Contents for /etc/resolv.conf and /etc/hosts; by default the host's (network default/host) or loopback-only ones (none). */
  readonly resolvConf?: string;
  readonly hosts?: string;
  /** Names put in /etc/hosts before `hosts`' own lines (buildx's --add-host), in order: a lookup takes these first. */
  readonly extraHosts?: readonly ExtraHost[];
  /** Aborting kills the step and everything it started; `run` then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Signals the caller gets while the command runs, passed on to the command (`polyarch run`). */
  readonly passSignals?: SignalPassing;
}

export interface RunResult {
  /** The step's exit code; 128 + n when it was killed by signal n (as a shell reports it). */
  readonly exitCode: number;
  /** Set when the sandbox itself ended by a signal (the step is then gone too). */
  readonly signal?: string;
  /**
   * The owner inside the image of an owner on disk, when the two differ: a step run by an ordinary
   * user without subordinate ids writes every file as that user, and the layer records the step's
   * own user instead; with subordinate ids, files have host ids of the ranges.
   */
  readonly mapOwner?: (uid: number, gid: number) => { readonly uid: number; readonly gid: number };
  /** Owners inside, by path relative to the root, of what the step left that the disk no longer shows (handed back to the caller to be read). */
  readonly keptOwners?: ReadonlyMap<string, { readonly uid: number; readonly gid: number }>;
}

export interface Executor {
  /** Runs one step to its end. Rejects only when the step could not be started or was aborted; a failing step resolves with its exit code. */
  run(step: RunStep, options: RunOptions): Promise<RunResult>;
  /**
   * Gives the files of a root the owners its layers record (`recorded`, paths relative to it),
   * where the disk could not keep them when they were written and the executor's steps can hold
   * them. Called before a step's snapshot, so the step sees (and its layer keeps) the real owners.
   */
  prepareRoot?(rootfs: string, recorded: ReadonlyMap<string, { readonly mode: number; readonly uid: number; readonly gid: number }>): Promise<void>;
  /** Hands a root's files back to the caller where the executor's steps gave them other owners, before the caller applies layers to it. */
  releaseRoot?(rootfs: string): Promise<void>;
  /** Removes a tree the executor's steps wrote in (their files may have owners the caller cannot remove directly). */
  removeTree?(path: string): Promise<void>;
}

/** docker's PATH for a container whose image sets none (and BuildKit's for a `FROM scratch` image). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** PATH as docker fills it in when the image's environment leaves it unset (HOME is the executor's: it needs the user). */
export function withDefaultEnv(env: Record<string, string>): Record<string, string> {
  env['PATH'] ??= DEFAULT_PATH;
  return env;
}

/** Makes the working directory when missing, as docker does, inside the root whatever links lead there. */
export async function ensureWorkdir(rootfs: string, cwd: string): Promise<void> {
  const path = await resolveInRoot(rootfs, posix.resolve('/', cwd), { followFinal: true }).catch((error: unknown) => {
    throw error instanceof LinkLoopError ? new PolyarchError('NOT_FOUND', `cannot make working directory ${JSON.stringify(cwd)}: its path in the image is a loop of symbolic links`, { cause: error }) : error;
  });
  await makeDirectories(path).catch((error: NodeJS.ErrnoException) => {
    // A file (or a link to nowhere) where the image has a component of the path.
    throw error.code === 'EEXIST' || error.code === 'ENOTDIR' ? new PolyarchError('NOT_FOUND', `cannot make working directory ${JSON.stringify(cwd)}: a part of its path in the image is not a directory`, { cause: error }) : error;
  });
}
