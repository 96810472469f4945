// The Executor on Linux: bubblewrap (`bwrap`, Debian package bubblewrap) runs each step with the
// stage's root bind-mounted read-write as `/`, in new mount, pid, ipc, uts and cgroup namespaces
// (and a new network namespace for network `none`), with a fresh /proc, a minimal /dev, and
// /etc/resolv.conf and /etc/hosts bound over the root's own for the step's lifetime only. Nothing
// of the host's filesystem is visible beyond the mounts a step asks for.
//
// Identities. Run by root, the step runs in a user namespace that maps every id onto itself, held
// open by a small `unshare --user` process that bwrap is started in (nsenter): root inside owns
// what root owns outside, `chown` works, files keep the owners the step gave them, and the step
// has no privilege over the host (its capabilities count only in its own namespaces). A step with
// a non-root USER runs bwrap as that user inside the same namespace (bwrap cannot switch ids in a
// namespace it joins), so what it creates is owned by the USER on disk; it reaches the root through
// a private mount namespace of the holder (it may not be allowed into the root's parents). Groups
// and supplementary groups come from the image's /etc/group (passwd.ts), set with setpriv; for a
// non-root USER they count for access but `id` shows them as nobody (65534), as bwrap maps only the
// primary group. Run by an ordinary user with subordinate ids (/etc/subuid and /etc/subgid, and
// newuidmap/newgidmap; id-map.ts), the holder's namespace maps 0 onto the caller and 1..N onto
// those ids instead of the identity, and everything above holds the same way: `chown`, a USER and
// programs that drop to another user work for real, the files on disk have host ids of the ranges,
// and the result's mapOwner turns them back into the owners inside for the layer. Roots are given
// their layers' owners before a step (prepareRoot), handed back to the caller before it applies
// layers to them (releaseRoot), and removed inside the namespace (removeTree),
// as rootless podman does with `podman unshare`. Run by an ordinary user without them, bwrap's own
// user namespace maps the step's one id onto the caller: files of every other owner appear as
// nobody, `chown` fails, what the step creates is the caller's on disk, and the result's mapOwner
// tells RUN to record it as the step's user.
//
// Secret files (data mounts) get their owner where a holder runs: they are written into a tmpfs of
// the holder's mount namespace, owned and moded there, and bound read-only; in bwrap's single
// mapping they belong to the step's user.
//
// Foreign platforms need nothing here: the kernel's binfmt_misc qemu handlers registered with the
// fix-binary flag (F) had their interpreter opened at registration, so it runs inside the sandbox
// without any file of qemu in the root.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, lstat, readFile, readdir, readlink, realpath, rm, rmdir, writeFile } from 'node:fs/promises';
import { constants as osConstants, hostname as hostHostname } from 'node:os';
import { dirname, join, posix, relative, sep } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { PolyarchError } from '../../errors/polyarch-error.js';
import { LinkLoopError, isWithin, resolveInRoot } from '../../internal/contained-path.js';
import { resolveUser } from '../passwd.js';
import { removeTreeNoFollow } from '../../internal/remove-tree.js';
import { checkExtraHosts, type Executor, type ExtraHost, type Mount, type RunOptions, type RunResult, type RunStep } from './executor.js';
import { callerIdMap, insideCount, toHost, toInside, writeIdMaps, runQuiet, type IdMap } from './id-map.js';
import { giveRecordedOwners, handBackAll, handBackUnreadable } from './mapped-owners.js';
import { makeDirectories } from '../../internal/make-directories.js';
import { signalUnderInit } from './pass-signals.js';

export interface BubblewrapExecutorOptions {
  /** The bwrap program (default `bwrap`, found on PATH). */
  readonly program?: string;
  /** The program that holds the identity-mapped user namespace for root (default `unshare`, util-linux). */
  readonly unshareProgram?: string;
  /** Enters that namespace to prepare and start a step with a non-root USER (default `nsenter`, util-linux). */
  readonly nsenterProgram?: string;
  /** Sets the step's groups before bwrap starts (default `setpriv`, util-linux). */
  readonly setprivProgram?: string;
}

/** The helper programs, resolved once. */
interface Programs {
  readonly bwrap: string;
  readonly unshare: string;
  readonly nsenter: string;
  readonly setpriv: string;
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
  const programs: Programs = {
    bwrap: options.program ?? 'bwrap',
    unshare: options.unshareProgram ?? 'unshare',
    nsenter: options.nsenterProgram ?? 'nsenter',
    setpriv: options.setprivProgram ?? 'setpriv',
  };
  // Read once per executor (one build or run): the roots it makes hold ids of this one map.
  let idMap: Promise<IdMap | undefined> | undefined;
  const mapOf = (): Promise<IdMap | undefined> => (idMap ??= callerIdMap());
  return {
    run: async (step, runOptions) => runInBubblewrap(programs, step, runOptions, await mapOf()),
    prepareRoot: async (rootfs, recorded) => {
      const map = await mapOf();
      if (map !== undefined) await giveRecordedOwners(rootfs, recorded, map, (args, input) => inMappedNamespace(programs, map, args, input));
    },
    releaseRoot: async (rootfs) => {
      const map = await mapOf();
      if (map !== undefined) await handBackAll(rootfs, (args, input) => inMappedNamespace(programs, map, args, input));
    },
    removeTree: async (path) => {
      const removed = await rm(path, { recursive: true, force: true, maxRetries: 3 }).then(() => true, (error: unknown) => error);
      if (removed === true) return;
      // A directory a step left unwritable (chmod 500) is the caller's own: made writable, then emptied.
      await removeTreeNoFollow(path);
      if (!(await lstat(path).then(() => true, () => false))) return;
      const map = await mapOf();
      if (map === undefined) throw removed;
      // Directories of subordinate owners the caller may not empty: root of the namespace may.
      await inMappedNamespace(programs, map, ['rm', '-rf', '--', path]);
    },
  };
}

/** Runs a command as root of the user namespace that process `pid` holds open. */
function asNamespaceRoot(programs: Programs, pid: number, args: readonly string[], failure: string, input?: string): Promise<string> {
  return runQuiet(programs.nsenter, [`--target=${pid}`, '--user', '--', ...args], failure, input);
}

/** Runs a command as root of a namespace with the caller's subordinate map (cleaning up after steps). */
async function inMappedNamespace(programs: Programs, map: IdMap, args: readonly string[], input?: string): Promise<string> {
  const holder = await startNamespaceHolder(programs.unshare, undefined, (pid) => writeIdMaps(map, pid), undefined);
  try {
    return await asNamespaceRoot(programs, holder.pid, args, `cannot ${args[0]} in the namespace of ${map.user}'s subordinate ids`, input);
  } finally {
    await holder.stop();
  }
}

/** The path of `hostPath` (below `rootfs`) as the step sees it. */
function inRootPath(rootfs: string, hostPath: string): string {
  const rel = relative(rootfs, hostPath);
  return rel === '' ? '/' : '/' + rel.split(sep).join('/');
}

/**
 * Resolves a mount target inside the root (a symlink there cannot point bubblewrap outside it) and
 * makes it when it does not exist yet, a directory or an empty file, noting the topmost component
 * made: it is removed again afterwards so the step's layer does not gain it. Made here rather than
 * by bwrap, which may run as a USER that cannot write there.
 */
async function planTarget(rootfs: string, target: string, scaffolds: Set<string>, kind: 'directory' | 'file' = 'directory'): Promise<string> {
  if (!posix.isAbsolute(target)) throw new PolyarchError('USAGE', `cannot mount at ${JSON.stringify(target)}: the target must be an absolute path`);
  const hostPath = await resolveInRoot(rootfs, target, { followFinal: true }).catch((error: unknown) => {
    throw error instanceof LinkLoopError ? new PolyarchError('NOT_FOUND', `cannot mount at ${JSON.stringify(target)} in the image: its path is a loop of symbolic links`, { cause: error }) : error;
  });
  const parts = relative(rootfs, hostPath).split(sep).filter((p) => p !== '');
  let current = rootfs;
  for (const [index, part] of parts.entries()) {
    current = join(current, part);
    const facts = await lstat(current).catch(() => undefined);
    if (facts !== undefined) continue;
    scaffolds.add(current);
    // Nothing below `current` exists: no link can be met on the way down.
    if (kind === 'directory') await makeDirectories(hostPath, 0o755);
    else {
      if (index < parts.length - 1) await makeDirectories(dirname(hostPath), 0o755);
      await writeFile(hostPath, '', { flag: 'wx', mode: 0o644 });
    }
    break;
  }
  return inRootPath(rootfs, hostPath);
}

/** Removes a mount point made for the step, if it still holds nothing but empty directories and empty files. */
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

/** An fd handed to bwrap: a pipe we write data into, or the one bwrap reports its status on. */
type ExtraFd = { readonly kind: 'data'; readonly content: string | Uint8Array } | { readonly kind: 'status' };

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

async function runInBubblewrap(programs: Programs, step: RunStep, options: RunOptions, idMap: IdMap | undefined): Promise<RunResult> {
  options.signal?.throwIfAborted();
  if (step.args.length === 0) throw new PolyarchError('USAGE', 'cannot run an empty command');
  // No program's argument can hold one (an image's config or a Dockerfile's JSON form may say \u0000).
  const withNul = step.args.findIndex((word) => word.includes('\0'));
  if (withNul >= 0) throw new PolyarchError('USAGE', `cannot run ${JSON.stringify(step.args[0])}: its word ${withNul + 1} holds a NUL byte (${JSON.stringify(step.args[withNul])})`);
  // resolveInRoot needs the root as a real path; the step's own paths are resolved below it.
  const rootfs = await realpath(options.rootfs).catch(() => undefined);
  const rootFacts = rootfs === undefined ? undefined : await lstat(rootfs);
  if (rootfs === undefined || !rootFacts?.isDirectory()) throw new PolyarchError('NOT_FOUND', `cannot run a step in ${JSON.stringify(options.rootfs)}: not a directory`);
  if (!posix.isAbsolute(options.cwd)) throw new PolyarchError('USAGE', `cannot run in working directory ${JSON.stringify(options.cwd)}: it must be absolute`);
  const cwdFacts = await resolveInRoot(rootfs, options.cwd, { followFinal: true }).then((path) => lstat(path)).catch(() => undefined);
  if (!cwdFacts?.isDirectory()) throw new PolyarchError('NOT_FOUND', `cannot run in working directory ${JSON.stringify(options.cwd)}: no such directory in the root`);
  for (const [name, value] of Object.entries(options.env)) {
    if (name === '' || name.includes('=') || name.includes('\0') || value.includes('\0')) {
      throw new PolyarchError('USAGE', `cannot set environment variable ${JSON.stringify(name)}: invalid name or value`);
    }
  }
  const user = await resolveUser(rootfs, options.user);
  // bwrap may be started by another program (setpriv): a missing one is found here, not in its stderr.
  if (!(await onPath(programs.bwrap))) {
    throw new PolyarchError('NOT_FOUND', `cannot run a step: the program "${programs.bwrap}" was not found; install the Debian package bubblewrap (apt-get install bubblewrap)`);
  }

  const callerIsRoot = process.getuid?.() === 0;
  // Root maps every id onto itself; an ordinary user with subordinate ids maps those.
  const holderMap = callerIsRoot ? writeIdentityMaps : idMap !== undefined ? (pid: number) => writeIdMaps(idMap, pid) : undefined;
  const supplementary = idMap === undefined ? user.groups : stepIdsInMap(idMap, user);
  const plan = new ArgumentPlan();
  const scaffolds = new Set<string>();
  const groups = supplementary.length > 0 ? `--groups=${supplementary.join(',')}` : '--clear-groups';
  // Secret files are made in the holder's mount namespace, where they can have their owner.
  const dataMounts = options.mounts.filter((m) => m.type === 'data');
  let prefix: string[] = [];
  let holder: NamespaceHolder | undefined;
  // Where bwrap finds the root and the bind sources (a door path for a non-root USER).
  let rootSource = rootfs;
  const bindSources = new Map<Mount, string>();
  let mapOwner: RunResult['mapOwner'];
  try {
    if (holderMap !== undefined && user.uid === 0) {
      // Root: bwrap starts inside the holder's namespace (as its root, with the step's group and
      // supplementary groups set there), so root inside is root (or the caller) on the files.
      const door = dataMounts.length > 0 ? await chooseDoor([rootfs, ...options.mounts.flatMap((m) => (m.type === 'bind' ? [m.source] : []))]) : undefined;
      holder = await startNamespaceHolder(programs.unshare, door === undefined ? undefined : { door, paths: [], bytes: dataBytes(dataMounts) }, holderMap, options.signal);
      prefix = [programs.nsenter, `--target=${holder.pid}`, '--user', ...(door === undefined ? [] : ['--mount']), '--', programs.setpriv, `--regid=${user.gid}`, groups, '--'];
      if (door !== undefined) await placeDataFiles(programs, holder, door, dataMounts, bindSources);
      plan.push('--unshare-ipc', '--unshare-pid', '--unshare-uts', '--unshare-cgroup-try');
      if (options.network === 'none') plan.push('--unshare-net');
      plan.push('--cap-drop', 'ALL', ...DEFAULT_CAPABILITIES.flatMap((cap) => ['--cap-add', cap]));
    } else if (holderMap !== undefined) {
      // A non-root USER: bwrap runs as that user (bwrap cannot switch ids inside a namespace it
      // joins), in the holder's namespace, so what the step writes is owned by the USER on
      // disk. That user may not reach the root's host path: a private mount namespace of the
      // holder shows the root and the bind sources at door paths it can reach.
      const binds = options.mounts.filter((m): m is Mount & { type: 'bind' } => m.type === 'bind');
      const paths = [rootfs, ...binds.map((m) => m.source)];
      const door = await chooseDoor(paths);
      holder = await startNamespaceHolder(programs.unshare, { door, paths, bytes: dataBytes(dataMounts) }, holderMap, options.signal);
      rootSource = `${door}/0`;
      binds.forEach((m, i) => bindSources.set(m, `${door}/${i + 1}`));
      await placeDataFiles(programs, holder, door, dataMounts, bindSources);
      prefix = [programs.nsenter, `--target=${holder.pid}`, '--user', '--mount', '--', programs.setpriv, `--reuid=${user.uid}`, `--regid=${user.gid}`, groups, '--'];
      plan.push('--unshare-all');
      if (options.network !== 'none') plan.push('--share-net');
      plan.push('--uid', String(user.uid), '--gid', String(user.gid));
    } else {
      // An ordinary caller: bwrap's own user namespace maps the one id onto the caller; what the
      // step writes is the caller's on disk and is recorded as the step's user in the layer.
      plan.push('--unshare-all');
      if (options.network !== 'none') plan.push('--share-net');
      plan.push('--uid', String(user.uid), '--gid', String(user.gid));
      mapOwner = () => ({ uid: user.uid, gid: user.gid });
    }
    plan.push('--die-with-parent');
    plan.push('--hostname', options.hostname ?? (options.network === 'host' ? hostHostname() : 'polyarch'));
    plan.push('--json-status-fd', String(plan.addFd({ kind: 'status' })));

    plan.push('--bind', rootSource, '/');
    plan.push('--proc', await planTarget(rootfs, '/proc', scaffolds));
    plan.push('--dev', await planTarget(rootfs, '/dev', scaffolds));
    const resolvConf = options.resolvConf ?? (options.network === 'none' ? '' : await hostFile('/etc/resolv.conf', ''));
    const hosts = withExtraHosts(options.hosts ?? (options.network === 'none' ? LOOPBACK_HOSTS : await hostFile('/etc/hosts', LOOPBACK_HOSTS)), options.extraHosts ?? []);
    for (const [target, content] of [
      ['/etc/resolv.conf', resolvConf],
      ['/etc/hosts', hosts],
    ] as const) {
      plan.push('--perms', '0644', '--ro-bind-data', String(plan.addFd({ kind: 'data', content })), await planTarget(rootfs, target, scaffolds, 'file'));
    }
    // Parents before children, so a mount inside another mount lands on top of it.
    const mounts = [...options.mounts].sort((a, b) => posix.normalize(a.target).split('/').length - posix.normalize(b.target).split('/').length);
    for (const mount of mounts) await planMount(plan, rootfs, mount, scaffolds, bindSources.get(mount));

    plan.push('--chdir', options.cwd, '--clearenv');
    // The environment goes to bwrap through a pipe (--args), not its command line: values may be
    // secrets (RUN --mount=type=secret,env=), and any local user can read a process's argv.
    const envArgs: string[] = [];
    // HOME, when the image leaves it unset, is the user's from /etc/passwd, else / (runc's rule).
    const env = options.env['HOME'] === undefined ? { ...options.env, HOME: user.home ?? '/' } : options.env;
    for (const [name, value] of Object.entries(env)) {
      if (name === '' || name.includes('=') || name.includes('\0') || value.includes('\0')) {
        throw new PolyarchError('USAGE', `cannot set environment variable ${JSON.stringify(name)}: invalid name or value`);
      }
      envArgs.push('--setenv', name, value);
    }
    if (envArgs.length > 0) plan.push('--args', String(plan.addFd({ kind: 'data', content: `${envArgs.join('\0')}\0` })));
    plan.push('--', ...step.args);
    holder?.assertAlive();
    const result = await spawnSandbox(programs.bwrap, prefix, plan, options, step.args[0] ?? '');
    if (idMap !== undefined && holder !== undefined) {
      const inHolder = holder;
      const kept = await handBackUnreadable(rootfs, (args, input) => asNamespaceRoot(programs, inHolder.pid, args, 'cannot hand back what the step left unreadable', input));
      mapOwner = (uid, gid) => ({ uid: toInside(idMap.uid, uid) ?? NOBODY, gid: toInside(idMap.gid, gid) ?? NOBODY });
      return { ...result, mapOwner, keptOwners: kept };
    }
    return mapOwner ? { ...result, mapOwner } : result;
  } finally {
    await holder?.stop();
    for (const path of [...scaffolds].sort().reverse()) await removeScaffold(path);
  }
}

/** /etc/hosts with the extra names first: the first line naming a host is the one a lookup takes, so the caller's win over the file's own. */
function withExtraHosts(hosts: string, extra: readonly ExtraHost[]): string {
  checkExtraHosts(extra);
  return `${extra.map((h) => `${h.ip}\t${h.name}\n`).join('')}${hosts}`;
}

/** Whether `program` names an executable file, itself (with a slash) or in PATH. */
async function onPath(program: string): Promise<boolean> {
  const candidates = program.includes('/') ? [program] : (process.env['PATH'] ?? '').split(':').filter((d) => d !== '').map((d) => join(d, program));
  for (const candidate of candidates) {
    if (await access(candidate, fsConstants.X_OK).then(() => true, () => false)) return true;
  }
  return false;
}

/** Top-level directories a door may cover in the holder's mount namespace, the first one no path needs. */
const DOOR_CANDIDATES = ['/mnt', '/media', '/srv', '/opt', '/run', '/tmp', '/var/tmp'];

/**
 * Where the holder's private mount namespace shows the given host paths to a non-root USER (who
 * may not be allowed into their parents): a top-level directory holding none of them, covered
 * there by a tmpfs with one bind of each path. The host's mounts are untouched: the namespace's
 * propagation is private, and it ends with the holder.
 */
async function chooseDoor(paths: readonly string[]): Promise<string> {
  for (const candidate of DOOR_CANDIDATES) {
    if (paths.some((p) => isWithin(candidate, p))) continue;
    if ((await lstat(candidate).catch(() => undefined))?.isDirectory()) return candidate;
  }
  throw new PolyarchError('UNKNOWN', `cannot prepare the sandbox for a step with a non-root user: no directory of ${DOOR_CANDIDATES.join(', ')} is free to hold its mounts`);
}

/**
 * What the holder runs (`sh -c SCRIPT sh DOOR PATH…`): it waits until its id maps are written
 * (a line on stdin), makes the door, says "ready" and then only holds the namespaces, until its stdin ends.
 */
const DOOR_SCRIPT = [
  'read go || exit 1',
  'set -e',
  'door=$1',
  'size=$2',
  'shift 2',
  'mount -t tmpfs -o "mode=0755,size=$size" polyarch-doors "$door"',
  'i=0',
  'for source in "$@"; do',
  '  if [ -d "$source" ]; then mkdir "$door/$i"; else : > "$door/$i"; fi',
  '  mount --bind "$source" "$door/$i"',
  '  i=$((i + 1))',
  'done',
  'echo ready',
  'exec cat >/dev/null',
].join('\n');

async function planMount(plan: ArgumentPlan, rootfs: string, mount: Mount, scaffolds: Set<string>, door: string | undefined): Promise<void> {
  if (mount.type === 'data' && door !== undefined) {
    // Made in the holder's door with its owner and mode (placeDataFiles).
    plan.push('--ro-bind', door, await planTarget(rootfs, mount.target, scaffolds, 'file'));
    return;
  }
  if (mount.type === 'bind') {
    const facts = await lstat(mount.source).catch(() => undefined);
    if (facts === undefined) throw new PolyarchError('NOT_FOUND', `cannot mount ${JSON.stringify(mount.source)} at ${mount.target}: no such file or directory`);
    const target = await planTarget(rootfs, mount.target, scaffolds, facts.isDirectory() ? 'directory' : 'file');
    plan.push(mount.readOnly ? '--ro-bind' : '--bind', door ?? mount.source, target);
    return;
  }
  const target = await planTarget(rootfs, mount.target, scaffolds, mount.type === 'data' ? 'file' : 'directory');
  switch (mount.type) {
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
  readonly pid: number;
  /** Throws unless the holder still runs: its pid is entered by number, and a dead one's could be another process's. */
  assertAlive(): void;
  stop(): Promise<void>;
}

/**
 * A process in a new user namespace whose uid and gid maps are the identity over every id: bwrap
 * is started inside it so that root in the step is root on the files and nothing more on the host.
 * With `doors`, a mount namespace of its own too, showing the door paths a non-root USER reaches
 * the root and its bind sources through (chooseDoor).
 */
async function startNamespaceHolder(
  program: string,
  doors: { readonly door: string; readonly paths: readonly string[]; readonly bytes: number } | undefined,
  writeMaps: (pid: number) => Promise<void>,
  signal: AbortSignal | undefined,
): Promise<NamespaceHolder> {
  // The holder reads its standard input until polyarch's end of the pipe closes, so it ends with
  // polyarch however polyarch ends: a `sleep infinity` outlived a polyarch killed by SIGKILL (bwrap
  // has --die-with-parent). setpriv --pdeathsig was not enough: about one run in six kept it.
  const args = doors === undefined ? ['--user', '--', 'cat'] : ['--user', '--mount', '--propagation', 'private', '--', 'sh', '-c', DOOR_SCRIPT, 'sh', doors.door, String(doors.bytes), ...doors.paths];
  const child = spawn(program, args, { stdio: doors === undefined ? ['pipe', 'ignore', 'ignore'] : ['pipe', 'pipe', 'pipe'] });
  child.stdin?.on('error', () => undefined);
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
  let stderr = '';
  let ready = false;
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4096)));
  const opened = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (c: Buffer) => {
      if (!ready && c.toString().includes('ready')) {
        ready = true;
        resolve();
      }
    });
    child.once('close', () => {
      const why = stderr.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? 'the namespace holder ended';
      reject(new PolyarchError('UNKNOWN', `cannot prepare the sandbox for a step with a non-root user: ${why}`));
    });
  });
  opened.catch(() => undefined);
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
    await writeMaps(pid);
    if (doors !== undefined) {
      child.stdin?.write('go\n');
      await Promise.race([failed, opened]);
    }
    const assertAlive = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) throw new PolyarchError('UNKNOWN', 'cannot run a step: the process holding its user namespace ended early');
    };
    return { pid, assertAlive, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The door tmpfs's size: its entries, and the data files placed in it (a page or more each). */
function dataBytes(mounts: readonly Mount[]): number {
  return 65536 + mounts.reduce((n, m) => n + (m.type === 'data' ? Buffer.byteLength(m.content) + 4096 : 0), 0);
}

/** Root's holder: every id onto itself. */
async function writeIdentityMaps(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/uid_map`, '0 0 4294967295\n');
  await writeFile(`/proc/${pid}/gid_map`, '0 0 4294967295\n');
}

/** The kernel's overflow id: how an owner the map does not hold shows inside. */
const NOBODY = 65534;

/**
 * The step's supplementary groups the subordinate map holds (the kernel refuses others). Its user
 * and group must be there: otherwise it could not run as them, and falling back to the single
 * mapping would show every file the build's earlier steps gave a subordinate owner as nobody.
 */
function stepIdsInMap(map: IdMap, user: { readonly uid: number; readonly gid: number; readonly groups: readonly number[] }): number[] {
  for (const [what, id, extents] of [
    ['user', user.uid, map.uid],
    ['group', user.gid, map.gid],
  ] as const) {
    if (toHost(extents, id) === undefined) {
      throw new PolyarchError('USAGE', `cannot run a step as ${what} id ${id}: the subordinate ids of ${map.user} (/etc/sub${what === 'user' ? 'uid' : 'gid'}) give ids 0 to ${insideCount(extents) - 1} only`);
    }
  }
  return user.groups.filter((g) => toHost(map.gid, g) !== undefined);
}

/**
 * Writes each data mount's content into the holder's door tmpfs (inside its namespaces, as their
 * root) with its owner (default 0:0) and mode (default 0400), and notes the file as the mount's
 * source. The tmpfs lives in the holder's mount namespace only and goes with it.
 */
async function placeDataFiles(programs: Programs, holder: NamespaceHolder, door: string, mounts: readonly Mount[], sources: Map<Mount, string>): Promise<void> {
  let index = 0;
  for (const mount of mounts) {
    if (mount.type !== 'data') continue;
    const path = `${door}/data-${index++}`;
    const owner = `${mount.uid ?? 0}:${mount.gid ?? 0}`;
    const mode = (mount.mode ?? 0o400).toString(8).padStart(4, '0');
    await runQuiet(
      programs.nsenter,
      [`--target=${holder.pid}`, '--user', '--mount', '--', 'sh', '-c', 'umask 077 && cat > "$1" && chown "$2" "$1" && chmod "$3" "$1"', 'sh', path, owner, mode],
      `cannot place the file for the mount at ${mount.target}`,
      mount.content,
    );
    sources.set(mount, path);
  }
}

function waitForPid(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    if (child.pid !== undefined) resolve(child.pid);
    else child.once('spawn', () => (child.pid === undefined ? reject(new Error('no pid')) : resolve(child.pid)));
  });
}

/** Keeps the tail of what bwrap wrote to stderr, to quote it when the sandbox could not be set up. */
function tailKeeper(): { add(chunk: Buffer): void; lastLine(): string; whole(): string | undefined } {
  let tail = '';
  let bytes = 0;
  return {
    add: (chunk) => {
      bytes += chunk.length;
      tail = (tail + chunk.toString('utf8')).slice(-4096);
    },
    /** Everything written, when it all fits in the tail. */
    whole: () => (bytes <= 4096 ? tail : undefined),
    lastLine: () =>
      tail
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '')
        .at(-1) ?? '',
  };
}

/**
 * Runs bwrap (after `prefix`, the programs that set its identity and then exec it) with the plan.
 * `command`: the program bwrap execs (the step's first word), to tell its failed start from its own exit 1.
 */
function spawnSandbox(program: string, prefix: readonly string[], plan: ArgumentPlan, options: RunOptions, command: string): Promise<RunResult> {
  return new Promise<RunResult>((resolve, reject) => {
    const stdio: ('pipe' | 'ignore' | number)[] = [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'];
    for (let i = 0; i < plan.extra.length; i++) stdio.push('pipe');
    // Its own process group, so an abort can kill bwrap and whatever it forked at once; --die-with-parent
    // then takes the step's pid namespace (and every process in it) down with it.
    const argv = [...prefix, program, ...plan.args];
    const child = spawn(argv[0] as string, argv.slice(1), { stdio, detached: true });
    const tail = tailKeeper();
    let started = false;
    let aborted = false;
    let statusText = '';
    let stopPassing: (() => void) | undefined;

    const onAbort = (): void => {
      aborted = true;
      killGroup(child);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted === true) onAbort();

    child.once('error', (error: NodeJS.ErrnoException) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (error.code === 'ENOENT' && argv[0] !== program) {
        reject(new PolyarchError('NOT_FOUND', `cannot run a step: the program "${argv[0]}" was not found; install the Debian package util-linux`));
      } else if (error.code === 'ENOENT') {
        reject(new PolyarchError('NOT_FOUND', `cannot run a step: the program "${program}" was not found; install the Debian package bubblewrap (apt-get install bubblewrap)`));
      } else reject(error);
    });

    if (options.stdin !== undefined && child.stdin !== null) {
      child.stdin.on('error', () => undefined); // the step may stop reading
      options.stdin.pipe(child.stdin);
    }
    let wroteOut = false;
    forward(child.stdout, options.stdout, () => void (wroteOut = true));
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
          const init = started ? null : /"child-pid"\s*:\s*(\d+)\s*[,}]/.exec(statusText);
          if (!init) return;
          started = true;
          const initPid = Number(init[1]);
          if (options.passSignals && !aborted) stopPassing = options.passSignals((signal) => signalUnderInit(initPid, signal));
        });
      }
    });

    child.once('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      stopPassing?.();
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
      const exitCode = reported !== null ? Number(reported[1]) : (code ?? 1);
      resolve({ exitCode: exitCode === 1 && !wroteOut ? (execFailureCode(tail.whole(), command) ?? 1) : exitCode });
    });
  });
}

/**
 * docker run's code when the command itself could not be started, from bwrap's words (it exits 1
 * then): 127 when it is not in the image, 126 when it is there but cannot be run, 125 (docker's
 * code for its own failures) when bwrap could not make the sandbox the command was to run in (a
 * mount onto what it cannot cover: a directory onto a file, a path inside /proc). Only when that
 * line is all the output (nothing on stdout) and, for an exec, names the very program bwrap was to
 * run: a command that ran and printed such a line among others keeps its own exit code.
 */
function execFailureCode(stderr: string | undefined, command: string): number | undefined {
  const line = stderr?.replace(/\n$/, '');
  if (line === undefined || !line.startsWith('bwrap: ') || line.includes('\n')) return undefined;
  const exec = `bwrap: execvp ${command}: `;
  if (line.startsWith(exec)) return line.slice(exec.length) === 'No such file or directory' ? 127 : 126;
  return line.startsWith('bwrap: execvp ') ? undefined : 125;
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
