// The Executor on Linux: bubblewrap (`bwrap`, Debian package bubblewrap) runs each step with the
// stage's root bind-mounted read-write as `/`, in new mount, pid, ipc, uts and cgroup namespaces
// (and a new network namespace for network `none`), with a fresh /proc, a minimal /dev, and
// /etc/resolv.conf and /etc/hosts bound over the root's own for the step's lifetime only. Nothing
// of the host's filesystem is visible beyond the mounts a step asks for.
//
// Identities. Run by root, the step runs in a user namespace that maps every id onto itself, held
// open by a small `unshare --user` process: root inside owns what root owns outside, `chown` works,
// files keep the owners the step gave them, and the step has no privilege over the host (its
// capabilities count only in its own namespaces). For a step with a non-root USER (and for any
// step run by an ordinary user), bubblewrap's own user namespace maps that one id onto the caller:
// the step sees itself as the USER, files of every other owner appear as nobody (65534), `chown`
// fails, and what it creates is owned on disk by the caller.
//
// Foreign platforms need nothing here: the kernel's binfmt_misc qemu handlers registered with the
// fix-binary flag (F) had their interpreter opened at registration, so it runs inside the sandbox
// without any file of qemu in the root.
import { spawn, type ChildProcess } from 'node:child_process';
import { lstat, open, readFile, readdir, readlink, realpath, rm, rmdir, writeFile, type FileHandle } from 'node:fs/promises';
import { constants as osConstants, hostname as hostHostname } from 'node:os';
import { join, posix, relative, sep } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { PolyarchError } from '../../errors/polyarch-error.js';
import { resolveInRoot } from '../../internal/contained-path.js';
import { resolveUser } from '../passwd.js';
import type { Executor, Mount, RunOptions, RunResult, RunStep } from './executor.js';

export interface BubblewrapExecutorOptions {
  /** The bwrap program (default `bwrap`, found on PATH). */
  readonly program?: string;
  /** The program that holds the identity-mapped user namespace for root (default `unshare`, util-linux). */
  readonly unshareProgram?: string;
}

/** Docker's default capability set for a root step (moby oci/caps/defaults.go). */
const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
] as const;

const LOOPBACK_HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';
/** How long the namespace holder may take to appear. */
const HOLDER_TIMEOUT_MS = 5000;

/** The executor on bubblewrap; see the top of this file for what a step sees. */
export function createBubblewrapExecutor(options: BubblewrapExecutorOptions = {}): Executor {
  const program = options.program ?? 'bwrap';
  const unshareProgram = options.unshareProgram ?? 'unshare';
  return {
    run: (step, runOptions) => runInBubblewrap(program, unshareProgram, step, runOptions),
  };
}

/** The path of `hostPath` (below `rootfs`) as the step sees it. */
function inRootPath(rootfs: string, hostPath: string): string {
  const rel = relative(rootfs, hostPath);
  return rel === '' ? '/' : '/' + rel.split(sep).join('/');
}

/**
 * Resolves a mount target inside the root (a symlink there cannot point bubblewrap outside it) and
 * notes the topmost component that does not exist yet: bwrap creates it as a mount point, and it is
 * removed again afterwards so the step's layer does not gain it.
 */
async function planTarget(rootfs: string, target: string, scaffolds: Set<string>): Promise<string> {
  if (!posix.isAbsolute(target)) throw new PolyarchError('USAGE', `cannot mount at ${JSON.stringify(target)}: the target must be an absolute path`);
  const hostPath = await resolveInRoot(rootfs, target, { followFinal: true });
  const parts = relative(rootfs, hostPath).split(sep).filter((p) => p !== '');
  let current = rootfs;
  for (const part of parts) {
    current = join(current, part);
    const facts = await lstat(current).catch(() => undefined);
    if (facts === undefined) {
      scaffolds.add(current);
      break;
    }
  }
  return inRootPath(rootfs, hostPath);
}

/** Removes a mount point bwrap created, if it still holds nothing but empty directories and empty files. */
async function removeScaffold(path: string): Promise<void> {
  const facts = await lstat(path).catch(() => undefined);
  if (facts === undefined) return;
  if (facts.isDirectory()) {
    for (const name of await readdir(path)) await removeScaffold(join(path, name));
    await rmdir(path).catch(() => undefined);
  } else if (facts.isFile() && facts.size === 0) {
    await rm(path, { force: true });
  }
}

/** An fd handed to bwrap: either one we hold open (the user namespace) or a pipe we write data into. */
type ExtraFd = { readonly kind: 'fd'; readonly fd: number } | { readonly kind: 'data'; readonly content: string | Uint8Array } | { readonly kind: 'status' };

class ArgumentPlan {
  readonly args: string[] = [];
  readonly extra: ExtraFd[] = [];

  /** The fd number the child will see for a new extra descriptor. */
  addFd(entry: ExtraFd): number {
    this.extra.push(entry);
    return 2 + this.extra.length;
  }

  push(...args: string[]): void {
    this.args.push(...args);
  }
}

async function hostFile(path: string, fallback: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => fallback);
}

async function runInBubblewrap(program: string, unshareProgram: string, step: RunStep, options: RunOptions): Promise<RunResult> {
  options.signal?.throwIfAborted();
  if (step.args.length === 0) throw new PolyarchError('USAGE', 'cannot run an empty command');
  // resolveInRoot needs the root as a real path; the step's own paths are resolved below it.
  const rootfs = await realpath(options.rootfs).catch(() => undefined);
  const rootFacts = rootfs === undefined ? undefined : await lstat(rootfs);
  if (rootfs === undefined || !rootFacts?.isDirectory()) throw new PolyarchError('NOT_FOUND', `cannot run a step in ${JSON.stringify(options.rootfs)}: not a directory`);
  if (!posix.isAbsolute(options.cwd)) throw new PolyarchError('USAGE', `cannot run in working directory ${JSON.stringify(options.cwd)}: it must be absolute`);
  const cwdFacts = await lstat(await resolveInRoot(rootfs, options.cwd, { followFinal: true })).catch(() => undefined);
  if (!cwdFacts?.isDirectory()) throw new PolyarchError('NOT_FOUND', `cannot run in working directory ${JSON.stringify(options.cwd)}: no such directory in the root`);
  const user = await resolveUser(rootfs, options.user);

  const callerIsRoot = process.getuid?.() === 0;
  const mapAllIds = callerIsRoot && user.uid === 0 && user.gid === 0;
  const plan = new ArgumentPlan();
  const scaffolds = new Set<string>();
  let holder: NamespaceHolder | undefined;
  try {
    if (mapAllIds) {
      holder = await startNamespaceHolder(unshareProgram, options.signal);
      plan.push('--userns', String(plan.addFd({ kind: 'fd', fd: holder.handle.fd })));
      plan.push('--unshare-ipc', '--unshare-pid', '--unshare-uts', '--unshare-cgroup-try');
      if (options.network === 'none') plan.push('--unshare-net');
      plan.push('--cap-drop', 'ALL', ...DEFAULT_CAPABILITIES.flatMap((cap) => ['--cap-add', cap]));
    } else {
      // bwrap's own user namespace: the one id mapped onto the caller.
      plan.push('--unshare-all');
      if (options.network !== 'none') plan.push('--share-net');
      plan.push('--uid', String(user.uid), '--gid', String(user.gid));
    }
    plan.push('--die-with-parent');
    plan.push('--hostname', options.hostname ?? (options.network === 'host' ? hostHostname() : 'polyarch'));
    plan.push('--json-status-fd', String(plan.addFd({ kind: 'status' })));

    plan.push('--bind', rootfs, '/');
    plan.push('--proc', await planTarget(rootfs, '/proc', scaffolds));
    plan.push('--dev', await planTarget(rootfs, '/dev', scaffolds));
    const resolvConf = options.resolvConf ?? (options.network === 'none' ? '' : await hostFile('/etc/resolv.conf', ''));
    const hosts = options.hosts ?? (options.network === 'none' ? LOOPBACK_HOSTS : await hostFile('/etc/hosts', LOOPBACK_HOSTS));
    for (const [target, content] of [
      ['/etc/resolv.conf', resolvConf],
      ['/etc/hosts', hosts],
    ] as const) {
      plan.push('--perms', '0644', '--ro-bind-data', String(plan.addFd({ kind: 'data', content })), await planTarget(rootfs, target, scaffolds));
    }
    // Parents before children, so a mount inside another mount lands on top of it.
    const mounts = [...options.mounts].sort((a, b) => posix.normalize(a.target).split('/').length - posix.normalize(b.target).split('/').length);
    for (const mount of mounts) await planMount(plan, rootfs, mount, scaffolds);

    plan.push('--chdir', options.cwd, '--clearenv');
    for (const [name, value] of Object.entries(options.env)) {
      if (name === '' || name.includes('=') || name.includes('\0') || value.includes('\0')) {
        throw new PolyarchError('USAGE', `cannot set environment variable ${JSON.stringify(name)}: invalid name or value`);
      }
      plan.push('--setenv', name, value);
    }
    plan.push('--', ...step.args);
    return await spawnSandbox(program, plan, options);
  } finally {
    await holder?.stop();
    for (const path of [...scaffolds].sort().reverse()) await removeScaffold(path);
  }
}

async function planMount(plan: ArgumentPlan, rootfs: string, mount: Mount, scaffolds: Set<string>): Promise<void> {
  const target = await planTarget(rootfs, mount.target, scaffolds);
  switch (mount.type) {
    case 'bind': {
      const facts = await lstat(mount.source).catch(() => undefined);
      if (facts === undefined) throw new PolyarchError('NOT_FOUND', `cannot mount ${JSON.stringify(mount.source)} at ${mount.target}: no such file or directory`);
      plan.push(mount.readOnly ? '--ro-bind' : '--bind', mount.source, target);
      return;
    }
    case 'tmpfs':
      plan.push('--perms', (mount.mode ?? 0o755).toString(8).padStart(4, '0'));
      if (mount.sizeBytes !== undefined) plan.push('--size', String(mount.sizeBytes));
      plan.push('--tmpfs', target);
      return;
    case 'data':
      plan.push('--perms', (mount.mode ?? 0o400).toString(8).padStart(4, '0'), '--ro-bind-data', String(plan.addFd({ kind: 'data', content: mount.content })), target);
      return;
  }
}

interface NamespaceHolder {
  readonly handle: FileHandle;
  stop(): Promise<void>;
}

/**
 * A process in a new user namespace whose uid and gid maps are the identity over every id: bwrap
 * joins it (--userns) so that root in the step is root on the files and nothing more on the host.
 */
async function startNamespaceHolder(program: string, signal: AbortSignal | undefined): Promise<NamespaceHolder> {
  const child = spawn(program, ['--user', '--', 'sleep', 'infinity'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const failed = new Promise<never>((_, reject) =>
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new PolyarchError('NOT_FOUND', `cannot run a step: the program "${program}" was not found; install the Debian package util-linux`)
          : error,
      ),
    ),
  );
  failed.catch(() => undefined);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  try {
    const pid = await Promise.race([failed, waitForPid(child)]);
    const own = await readlink('/proc/self/ns/user');
    const deadline = Date.now() + HOLDER_TIMEOUT_MS;
    for (;;) {
      signal?.throwIfAborted();
      const theirs = await readlink(`/proc/${pid}/ns/user`).catch(() => undefined);
      if (theirs !== undefined && theirs !== own) break;
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new PolyarchError('UNSUPPORTED', `cannot run a step: "${program} --user" did not create a user namespace (are user namespaces disabled?)`);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await writeFile(`/proc/${pid}/uid_map`, '0 0 4294967295\n');
    await writeFile(`/proc/${pid}/gid_map`, '0 0 4294967295\n');
    const handle = await open(`/proc/${pid}/ns/user`, 'r');
    return {
      handle,
      stop: async () => {
        await handle.close();
        await stop();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function waitForPid(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    if (child.pid !== undefined) resolve(child.pid);
    else child.once('spawn', () => (child.pid === undefined ? reject(new Error('no pid')) : resolve(child.pid)));
  });
}

/** Keeps the tail of what bwrap wrote to stderr, to quote it when the sandbox could not be set up. */
function tailKeeper(): { add(chunk: Buffer): void; lastLine(): string } {
  let tail = '';
  return {
    add: (chunk) => {
      tail = (tail + chunk.toString('utf8')).slice(-4096);
    },
    lastLine: () =>
      tail
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '')
        .at(-1) ?? '',
  };
}

function spawnSandbox(program: string, plan: ArgumentPlan, options: RunOptions): Promise<RunResult> {
  return new Promise<RunResult>((resolve, reject) => {
    const stdio: ('pipe' | 'ignore' | number)[] = [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'];
    for (const extra of plan.extra) stdio.push(extra.kind === 'fd' ? extra.fd : 'pipe');
    // Its own process group, so an abort can kill bwrap and whatever it forked at once; --die-with-parent
    // then takes the step's pid namespace (and every process in it) down with it.
    const child = spawn(program, plan.args, { stdio, detached: true });
    const tail = tailKeeper();
    let started = false;
    let aborted = false;
    let statusText = '';

    const onAbort = (): void => {
      aborted = true;
      killGroup(child);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted === true) onAbort();

    child.once('error', (error: NodeJS.ErrnoException) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (error.code === 'ENOENT') {
        reject(new PolyarchError('NOT_FOUND', `cannot run a step: the program "${program}" was not found; install the Debian package bubblewrap (apt-get install bubblewrap)`));
      } else reject(error);
    });

    if (options.stdin !== undefined && child.stdin !== null) {
      child.stdin.on('error', () => undefined); // the step may stop reading
      options.stdin.pipe(child.stdin);
    }
    forward(child.stdout, options.stdout);
    forward(child.stderr, options.stderr, (chunk) => tail.add(chunk));
    plan.extra.forEach((extra, index) => {
      const stream = child.stdio[3 + index];
      if (stream === null || stream === undefined) return;
      if (extra.kind === 'data') {
        const writable = stream as Writable;
        writable.on('error', () => undefined);
        writable.end(extra.content);
      } else if (extra.kind === 'status') {
        const readable = stream as Readable;
        readable.on('data', (chunk: Buffer) => {
          statusText += chunk.toString('utf8');
          if (statusText.includes('"child-pid"')) started = true;
        });
      }
    });

    child.once('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (aborted) {
        reject(options.signal?.reason ?? new Error('aborted'));
        return;
      }
      const reported = /"exit-code"\s*:\s*(\d+)/.exec(statusText);
      if (!started) {
        reject(new PolyarchError('UNKNOWN', `cannot set up the sandbox for the step in ${JSON.stringify(options.rootfs)}: ${tail.lastLine() || `bwrap exited with ${code ?? signal}`}`));
        return;
      }
      if (signal !== null) {
        resolve({ exitCode: 128 + signalNumber(signal), signal });
        return;
      }
      resolve({ exitCode: reported !== null ? Number(reported[1]) : (code ?? 1) });
    });
  });
}

/** The step's output into the caller's stream, at the pace the caller reads it (the step blocks meanwhile). */
function forward(from: Readable | null, to: Writable, tap?: (chunk: Buffer) => void): void {
  if (from === null) return;
  if (tap !== undefined) from.on('data', tap);
  from.pipe(to, { end: false });
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return osConstants.signals[signal] ?? 0;
}
