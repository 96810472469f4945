// What RUN --mount names, found and made ready for the executor. Planning runs for every RUN: it
// checks the sources exist and says what the cache key must hold (a context source's content, a
// stage's or image's layers, a cache or secret by id only). Preparing runs only when
// the step runs: stage roots materialized, images unpacked, filtered or writable scratch copies
// made, cache instances taken. Every source path is resolved inside its own root (context, stage,
// image, cache instance), so neither `..` nor a link can reach anything outside it.
import { createHash } from 'node:crypto';
import { closeSync, constants as fsConstants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { copyFile, chmod, lstat, open, readdir, readlink, symlink } from 'node:fs/promises';
import { join, posix, relative } from 'node:path';
import { LinkLoopError, resolveInRoot } from '../../internal/contained-path.js';
import { tempPathIn } from '../../internal/temp-path.js';
import type { Platform } from '../../platform/platform.js';
import type { ContextFilter } from '../context-filter.js';
import { badDockerfile } from '../dockerfile.js';
import { acquireCacheMount, type CacheMountLease } from '../cache/cache-mounts.js';
import type { Mount } from '../executor/executor.js';
import { stageRoot } from '../stage-root.js';
import { stageNamed, type PlatformContext, type StageState } from '../stage.js';
import type { RunMountSpec } from './run-flags.js';
import { makeDirectories } from '../../internal/make-directories.js';

export interface PreparedMounts {
  readonly mounts: readonly Mount[];
  /** Secrets asked for with env=: added to the step's environment only. */
  readonly env: Readonly<Record<string, string>>;
  release(): Promise<void>;
}

export interface MountPlan {
  /** What the RUN cache key holds for the mounts (never a secret's value). */
  readonly keyParts: readonly unknown[];
  /** Every secret value the step receives, to keep them out of anything printed. */
  readonly secretValues: readonly Uint8Array[];
  prepare(): Promise<PreparedMounts>;
}

interface Where {
  readonly ctx: PlatformContext;
  readonly line: number;
  readonly platform: Platform;
  /** The index of the stage the RUN is in: it may mount only stages before it. */
  readonly stage: number;
}

/** A source of a bind or a cache seed: the build context, a stage or an image, and the key facts of it. */
interface SourceRoot {
  readonly key: unknown;
  /** The directory the source path is resolved in (made only when the step runs). */
  root(): Promise<string>;
  /** The context's filter; other roots copy everything. */
  readonly keep?: ContextFilter;
}

function describeSource(from: string | undefined): string {
  return from === undefined ? 'the build context' : from;
}

async function sourceRoot(from: string | undefined, where: Where): Promise<SourceRoot> {
  const { ctx, line, platform } = where;
  if (from === undefined) return { key: 'context', root: async () => ctx.context, keep: ctx.keep };
  const directory = ctx.named.directory(from);
  if (directory) return { key: ['context', from], root: async () => directory.dir, keep: directory.keep };
  const index = stageNamed(ctx.stages, from);
  if (index >= 0) {
    if (index >= where.stage) throw badDockerfile(ctx.file, line, `RUN --mount from=${from}: a stage can mount only stages defined before it`);
    const stage = await ctx.buildStage(index);
    return { key: ['stage', stage.diffIds], root: () => stageRoot(stage, ctx) };
  }
  // An image: its layers say what it holds; it is unpacked only when the step runs.
  const image = await ctx.bases.pull(from, platform, line);
  return { key: ['image', from, image.diffIds], root: async () => (await ctx.bases.unpack(from, platform, line)).root };
}

async function resolveSource(root: string, source: string, where: Where, from: string | undefined): Promise<string> {
  const path = await resolveInRoot(root, source, { followFinal: true }).catch((error: unknown) => {
    throw error instanceof LinkLoopError ? badDockerfile(where.ctx.file, where.line, `RUN --mount source ${JSON.stringify(source)}: too many levels of symbolic links`) : error;
  });
  if (!(await lstat(path).then(() => true, () => false))) {
    throw badDockerfile(where.ctx.file, where.line, `RUN --mount source ${JSON.stringify(source)} not found in ${describeSource(from)}`);
  }
  return path;
}

/** Content hashes of context files already read by this process, by identity and change facts. */
const fileHashes = new Map<string, Promise<string>>();

/** Files up to this size are read at once, synchronously; larger ones are streamed. */
const SMALL_FILE = 1 << 20;
/** A context file is read as it was looked at: a link or a pipe swapped in since is refused, not followed or waited on. */
const READ_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;
/** The buffer small files are read into, one at a time. */
let smallFileBuffer: Buffer | undefined;

/**
 * A file's sha256 (once per process while the file is unchanged). A context of 20,000 small files
 * took 4.6 s to look at when each went through a stream (an open, a read and a close on the thread
 * pool, and a 64 KiB buffer, each); read synchronously into one buffer, 0.6 s.
 */
function hashFile(path: string, info: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number }): Promise<string> {
  const id = `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
  let known = fileHashes.get(id);
  if (!known) {
    known = info.size <= SMALL_FILE ? Promise.resolve().then(() => hashSmallFile(path)) : hashStreamed(path);
    known.catch(() => fileHashes.delete(id));
    fileHashes.set(id, known);
  }
  return known;
}

function hashSmallFile(path: string): string {
  const fd = openSync(path, READ_FLAGS);
  try {
    if (!fstatSync(fd).isFile()) throw new Error(`${path} is no longer a regular file`);
    const hash = createHash('sha256');
    smallFileBuffer ??= Buffer.allocUnsafe(SMALL_FILE);
    for (let read; (read = readSync(fd, smallFileBuffer, 0, SMALL_FILE, null)) > 0; ) hash.update(smallFileBuffer.subarray(0, read));
    return hash.digest('hex');
  } finally {
    closeSync(fd);
  }
}

async function hashStreamed(path: string): Promise<string> {
  const handle = await open(path, READ_FLAGS);
  try {
    if (!(await handle.stat()).isFile()) throw new Error(`${path} is no longer a regular file`);
    const hash = createHash('sha256');
    for await (const chunk of handle.createReadStream({ highWaterMark: SMALL_FILE, autoClose: false })) hash.update(chunk as Buffer);
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}

/**
 * What a context tree holds as the step would see it: each kept path's type, mode, link target and
 * content hash (not its times: a checkout that rewrites the same bytes is the same input), and
 * whether .dockerignore drops any of it. Walked with synchronous calls, as COPY walks its sources.
 */
async function fingerprint(path: string, keep: ContextFilter): Promise<{ hash: string; filtered: boolean }> {
  const hash = createHash('sha256');
  let filtered = false;
  const visit = async (at: string, rel: string): Promise<void> => {
    const info = lstatSync(at);
    const content = info.isSymbolicLink() ? readlinkSync(at) : info.isFile() ? await hashFile(at, info) : '';
    hash.update(JSON.stringify([rel, info.mode, content]));
    if (!info.isDirectory()) return;
    for (const name of readdirSync(at).sort()) {
      const child = at.endsWith('/') ? `${at}${name}` : `${at}/${name}`;
      if (keep(child)) await visit(child, `${rel}/${name}`);
      else filtered = true;
    }
  };
  await visit(path, '');
  return { hash: hash.digest('hex'), filtered };
}

/** Copies a tree (links as links, never followed; devices, fifos and sockets left out), keeping what `keep` allows. */
async function copyTree(from: string, to: string, keep: ContextFilter): Promise<void> {
  const info = await lstat(from);
  if (info.isSymbolicLink()) return symlink(await readlink(from), to);
  if (info.isFile()) {
    await copyFile(from, to);
    return chmod(to, info.mode & 0o7777);
  }
  if (!info.isDirectory()) return;
  await makeDirectories(to);
  await chmod(to, info.mode & 0o7777);
  for (const name of await readdir(from)) {
    if (keep(join(from, name))) await copyTree(join(from, name), join(to, name), keep);
  }
}

const everything: ContextFilter = () => true;

/** Plans every --mount of a RUN; the secrets come from ctx.secrets. */
export async function planRunMounts(specs: readonly RunMountSpec[], state: StageState, platform: Platform, ctx: PlatformContext, line: number): Promise<MountPlan> {
  const where: Where = { ctx, line, platform, stage: state.index };
  const keyParts: unknown[] = [];
  const secretValues: Uint8Array[] = [];
  const steps: ((out: { mounts: Mount[]; env: Record<string, string>; leases: CacheMountLease[] }) => Promise<void>)[] = [];

  for (const spec of specs) {
    switch (spec.type) {
      case 'tmpfs':
        keyParts.push(['tmpfs', spec.target, spec.sizeBytes ?? 0]);
        steps.push(async (out) => void out.mounts.push({ type: 'tmpfs', target: spec.target, ...(spec.sizeBytes !== undefined ? { sizeBytes: spec.sizeBytes } : {}) }));
        break;
      case 'secret': {
        const value = ctx.secrets[spec.id];
        keyParts.push(['secret', spec.id, spec.target ?? '', spec.env ?? '', spec.mode, spec.uid ?? 0, spec.gid ?? 0]);
        if (value === undefined) {
          if (spec.required) throw badDockerfile(ctx.file, line, `RUN --mount=type=secret: the secret ${JSON.stringify(spec.id)} is required but was not given (--secret id=${spec.id},src=FILE)`);
          break; // an optional secret no one gave: no file, no variable
        }
        secretValues.push(value);
        steps.push(async (out) => {
          // Owned by 0:0 unless uid=/gid= say otherwise, as BuildKit's secrets.
          if (spec.target !== undefined) out.mounts.push({ type: 'data', target: spec.target, content: value, mode: spec.mode, uid: spec.uid ?? 0, gid: spec.gid ?? 0 });
          if (spec.env !== undefined) out.env[spec.env] = Buffer.from(value).toString('utf8');
        });
        break;
      }
      case 'bind': {
        const source = await sourceRoot(spec.from, where);
        const directory = spec.from === undefined ? { dir: ctx.context, keep: ctx.keep } : ctx.named.directory(spec.from);
        if (directory) {
          // A context as BuildKit transfers it: a name its .dockerignore drops is not there.
          const { dir, keep } = directory;
          const named = join(dir, posix.resolve('/', spec.source));
          const path = await resolveSource(dir, spec.source, where, spec.from);
          if (!keep(named) || !keep(path)) throw badDockerfile(ctx.file, line, `RUN --mount source ${JSON.stringify(spec.source)} is excluded by .dockerignore`);
          const facts = await fingerprint(path, keep);
          keyParts.push(['bind', spec.target, spec.readWrite, source.key, relative(dir, path), facts.hash]);
          steps.push(async (out) => {
            // Read-only and complete: the context itself. Otherwise a scratch copy (filtered; writes thrown away).
            if (!spec.readWrite && !facts.filtered) return void out.mounts.push({ type: 'bind', source: path, target: spec.target, readOnly: true });
            const copy = tempPathIn(ctx.layout.dir, 'bind');
            ctx.addScratch(copy);
            await copyTree(path, copy, keep);
            out.mounts.push({ type: 'bind', source: copy, target: spec.target, readOnly: !spec.readWrite });
          });
          break;
        }
        keyParts.push(['bind', spec.target, spec.readWrite, source.key, posix.resolve('/', spec.source)]);
        steps.push(async (out) => {
          const path = await resolveSource(await source.root(), spec.source, where, spec.from);
          if (!spec.readWrite) return void out.mounts.push({ type: 'bind', source: path, target: spec.target, readOnly: true });
          // Writes go to a copy: the stage or image stays as it was for every other reader.
          const copy = tempPathIn(ctx.layout.dir, 'bind');
          ctx.addScratch(copy);
          await copyTree(path, copy, everything);
          out.mounts.push({ type: 'bind', source: copy, target: spec.target, readOnly: false });
        });
        break;
      }
      case 'cache': {
        const seedFrom = spec.from === undefined ? undefined : await sourceRoot(spec.from, where);
        keyParts.push(['cache', spec.id, spec.target, spec.readOnly, spec.source, spec.from ?? '']);
        steps.push(async (out) => {
          const lease = await acquireCacheMount(ctx.layout.dir, {
            id: spec.id,
            platform: where.platform,
            sharing: spec.sharing,
            ...(spec.mode !== undefined ? { mode: spec.mode } : {}),
            ...(spec.uid !== undefined ? { uid: spec.uid } : {}),
            ...(spec.gid !== undefined ? { gid: spec.gid } : {}),
            ...(seedFrom
              ? {
                  seed: async (dir: string) => {
                    const path = await resolveSource(await seedFrom.root(), spec.source, where, spec.from);
                    if ((await lstat(path)).isDirectory()) {
                      for (const name of await readdir(path)) await copyTree(join(path, name), join(dir, name), everything);
                    } else await copyTree(path, join(dir, posix.basename(spec.source)), everything);
                  },
                }
              : {}),
            signal: ctx.io.signal,
          });
          out.leases.push(lease);
          let dir = lease.dir;
          if (!seedFrom && posix.resolve('/', spec.source) !== '/') {
            // A folder inside the cache: resolved inside it (a step may have left links there).
            dir = await resolveInRoot(lease.dir, spec.source, { followFinal: true });
            await makeDirectories(dir);
            if (!(await lstat(dir)).isDirectory()) throw badDockerfile(ctx.file, line, `RUN --mount=type=cache source ${JSON.stringify(spec.source)} is not a directory in the cache`);
          }
          out.mounts.push({ type: 'bind', source: dir, target: spec.target, readOnly: spec.readOnly });
        });
        break;
      }
    }
  }

  return {
    keyParts,
    secretValues,
    prepare: async () => {
      const out = { mounts: [] as Mount[], env: {} as Record<string, string>, leases: [] as CacheMountLease[] };
      const release = async () => {
        for (const lease of out.leases) await lease.release();
      };
      try {
        for (const step of steps) await step(out);
      } catch (error) {
        await release();
        throw error;
      }
      return { mounts: out.mounts, env: out.env, release };
    },
  };
}
