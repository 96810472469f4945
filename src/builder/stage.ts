// One stage of a Dockerfile on one platform: its image config, layers and history as they grow,
// the build-time variables its instructions see, and what the steps need from the build around it.
import type { Descriptor } from '../image/descriptor.js';
import type { ImageConfig } from '../image/config.js';
import type { Platform } from '../platform/platform.js';
import type { OciLayout } from '../store/oci-layout.js';
import type { CompressionOptions } from '../layer/compression.js';
import type { LayerEntry } from '../layer/writer.js';
import type { Instruction } from './dockerfile.js';
import type { ContextFilter } from './context-filter.js';
import type { BaseImages } from './base-image.js';
import type { NamedContexts } from './named-contexts.js';
import type { RecordedFacts } from '../layer/extract.js';
import { DEFAULT_PATH, type Executor, type ExtraHost, type NetworkMode } from './executor/executor.js';
import type { SlotPool } from '../internal/slot-pool.js';
import type { StepProgress } from './progress.js';
import type { TransferListener } from '../progress/transfer.js';
import type { StageRootsChoice } from './stage-root.js';

/** A stage as the Dockerfile splits it: `FROM … [AS name]` and the instructions up to the next FROM. */
export interface Stage {
  readonly name?: string;
  readonly from: Instruction;
  readonly body: readonly Instruction[];
}

/** An image config whose `config` object the stage edits in place. */
export type StageConfig = ImageConfig & { config: Record<string, unknown> };

/** What a stage starts from: a base image's config, layers and history (or nothing, for scratch). */
export interface StageStart {
  readonly config: StageConfig;
  readonly layers: readonly Descriptor[];
  readonly diffIds: readonly string[];
  readonly history: readonly Record<string, unknown>[];
}

const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];

/** The state of one stage on one platform while its instructions run. */
export class StageState {
  config: StageConfig;
  readonly layers: Descriptor[];
  readonly diffIds: string[];
  readonly history: Record<string, unknown>[];
  /** Where the stage is in the Dockerfile (set by the build): COPY --from and RUN --mount from= may name only stages before it. */
  index = -1;
  /** Build-time variables (ARG and ENV) the stage's instructions substitute; a new stage starts from its config's Env. */
  readonly vars = new Map<string, string>();
  /** The shell of shell-form commands (SHELL). */
  shell: readonly string[];
  /**
   * The stage's filesystem on disk (stage-root.ts), made when first needed (a derived stage makes
   * its own): the modes and owners its layers give each path, and how many of `layers` it holds.
   */
  root?: { readonly dir: string; readonly recorded: RecordedFacts; applied: number };
  /** How many of `layers` the stage started with (its base image's, or the stage it derives from). */
  readonly startLayers: number;

  constructor(start: StageStart) {
    this.config = structuredClone(start.config);
    this.layers = [...start.layers];
    this.startLayers = start.layers.length;
    this.diffIds = [...start.diffIds];
    this.history = [...start.history];
    for (const entry of this.env) {
      const eq = entry.indexOf('=');
      this.vars.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    this.shell = (this.config.config.Shell as string[] | undefined) ?? DEFAULT_SHELL;
  }

  /** An empty stage (`FROM scratch`), with the PATH and working directory BuildKit gives one (so `ENV PATH=$PATH:/x` keeps the usual ones). */
  static scratch(): StageState {
    const config = { config: { Env: [`PATH=${DEFAULT_PATH}`], WorkingDir: '/' } } as StageConfig;
    return new StageState({ config, layers: [], diffIds: [], history: [] });
  }

  /** A new stage on top of this one (`FROM <earlier stage>`): the same image, variables from its Env only. */
  derive(): StageState {
    const child = new StageState(this);
    child.derivedFrom = this;
    return child;
  }

  /** The finished stage this one starts from (`FROM <earlier stage>`): its root, if it has one, is copied rather than made again. */
  derivedFrom?: StageState;

  /** Whether this stage gave CMD itself: an ENTRYPOINT resets a CMD only when it came from the base (docker's rule). */
  cmdSet = false;

  /** Whether a RUN of this stage is still to come (set by the build before each instruction): its layers will be unpacked. */
  runAhead = false;

  /** The config's environment, `NAME=value` entries. */
  get env(): readonly string[] {
    return (this.config.config.Env as string[] | undefined) ?? [];
  }

  /** Sets an environment variable in the config and for the instructions that follow. */
  setEnv(name: string, value: string): void {
    const env = this.env.slice();
    const at = env.findIndex((e) => e.startsWith(`${name}=`));
    if (at >= 0) env[at] = `${name}=${value}`;
    else env.push(`${name}=${value}`);
    this.config.config.Env = env;
    this.vars.set(name, value);
  }

  /** The working directory instructions resolve relative paths against. */
  get workdir(): string {
    return (this.config.config.WorkingDir as string | undefined) || '/';
  }

  /** The user steps run as (USER), if any. */
  get user(): string | undefined {
    return this.config.config.User as string | undefined;
  }

  /** The platform the stage's image is for. */
  setPlatform(platform: Platform): void {
    Object.assign(this.config, { architecture: platform.architecture, os: platform.os });
    if (platform.variant) this.config = { ...this.config, variant: platform.variant };
    else delete (this.config as { variant?: string }).variant;
  }

  /** The base's ONBUILD triggers, taken out of the config (the new image does not inherit them). */
  takeOnBuild(): string[] {
    const triggers = (this.config.config.OnBuild as string[] | undefined) ?? [];
    delete this.config.config.OnBuild;
    return triggers;
  }

  /** A history entry for an instruction (an empty layer when it only changed the config). */
  note(createdBy: string, created: Date, emptyLayer: boolean): void {
    this.history.push({ created: created.toISOString(), created_by: createdBy, comment: 'polyarch', ...(emptyLayer ? { empty_layer: true } : {}) });
  }

  /** A layer an instruction wrote, with its history entry and the entries it holds. */
  addLayer(layer: { readonly descriptor: Descriptor; readonly diffId: string }, createdBy: string, created: Date, entries: readonly LayerEntry[]): void {
    this.layers.push(layer.descriptor);
    this.diffIds.push(layer.diffId);
    this.note(createdBy, created, false);
    if (this.root) recordEntries(this.root.recorded, entries);
  }
}

/**
 * Keeps a stage root's recorded facts those of the image once `entries` are in it: a step's layer
 * is never applied to the root that made it, so its facts are taken from its entries; deleted
 * paths (and what was below them) are forgotten.
 */
function recordEntries(recorded: RecordedFacts, entries: readonly LayerEntry[]): void {
  const gone = new Set(entries.filter((e) => e.type === 'whiteout').map((e) => e.path));
  const emptied = new Set(entries.filter((e) => e.type === 'opaque').map((e) => e.path));
  if (gone.size > 0 || emptied.size > 0) {
    for (const path of recorded.keys()) {
      if (gone.has(path)) recorded.delete(path);
      else {
        for (let dir = parentPath(path); dir !== undefined; dir = parentPath(dir)) {
          if (gone.has(dir) || emptied.has(dir)) {
            recorded.delete(path);
            break;
          }
        }
      }
    }
  }
  for (const e of entries) {
    if (e.type !== 'whiteout' && e.type !== 'opaque') recorded.set(e.path, { mode: e.mode, uid: e.uid, gid: e.gid });
  }
}

function parentPath(path: string): string | undefined {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? undefined : path.slice(0, slash);
}

/** The stage `name` names for `--from` (its AS name in any case, or its number), or -1: an image. */
export function stageNamed(stages: readonly Stage[], name: string): number {
  const lower = name.toLowerCase();
  return stages.findIndex((s, n) => s.name === lower || String(n) === lower);
}

/** Build arguments a stage's ARG instructions may take values from. */
export interface StageArgs {
  /** `--build-arg`s. */
  readonly given?: Readonly<Record<string, string>>;
  /** TARGETPLATFORM, BUILDARCH and the rest, for this platform. */
  readonly automatic: ReadonlyMap<string, string>;
  /** ARGs declared before the first FROM, with their values. */
  readonly global: ReadonlyMap<string, string>;
}

/** Everything the instructions of a stage on one platform need from the build around them. */
export interface PlatformContext {
  /** The Dockerfile's name, for messages (`Dockerfile:7: …`). */
  readonly file: string;
  /** The build context directory. */
  readonly context: string;
  /** What .dockerignore keeps. */
  readonly keep: ContextFilter;
  /** The build cache layout: base layers, written layers and scratch files go there. */
  readonly layout: OciLayout;
  /** Every RUN step runs, even one whose layer the cache holds (buildx's --no-cache). */
  readonly noCache: boolean;
  /** The network of a RUN step that names none or `default` (the build's --network). */
  readonly network: NetworkMode;
  /** Names RUN steps find in /etc/hosts first (the build's --add-host). */
  readonly extraHosts: readonly ExtraHost[];
  readonly created: Date;
  readonly compression: CompressionOptions;
  readonly platform: Platform;
  readonly args: StageArgs;
  /** Network and disk work stops on this signal. */
  readonly io: { readonly signal: AbortSignal };
  readonly stages: readonly Stage[];
  /** Substitutes `${VAR}`s with the Dockerfile's escape character; a bad one is reported on `line`. */
  substitute(text: string, vars: ReadonlyMap<string, string>, line: number): string;
  /** An ENV, ARG or LABEL value as written, read as BuildKit's lexer reads it (processWord); a bad one is reported on `line`. */
  word(text: string, vars: ReadonlyMap<string, string>, line: number): string;
  /** A scratch path removed when the build ends. */
  addScratch(path: string): void;
  /** Builds (once) the stage at `index` for this platform. */
  buildStage(index: number): Promise<StageState>;
  readonly bases: BaseImages;
  /** Contexts given by name (--build-context): directories, and images standing for names. */
  readonly named: NamedContexts;
  /** Runs RUN steps. */
  readonly executor: Executor;
  /** Secret values by id, for RUN --mount=type=secret (never written to a layer, the config or a cache key). */
  readonly secrets: Readonly<Record<string, Uint8Array>>;
  /** Slots a RUN step's process holds while it runs, shared by every platform of the build (BuildOptions.runSlots). */
  readonly runSlots: SlotPool;
  /** Says this platform's first RUN step has its root (or was cached): platforms waiting for the emulated ones may start (emulated-first.ts). */
  underway(): void;
  /** How RUN steps get their root: mounted with overlayfs or copied (BuildOptions.stageRoots). */
  readonly stageRoots: StageRootsChoice;
  /** Progress of the instruction being carried out: build.ts binds it to each numbered step; silent elsewhere. */
  readonly progress: StepProgress;
  /** Hears bytes on the move: base layers pulled, layers compressed (BuildOptions.onTransfer). */
  readonly onTransfer?: TransferListener;
  /** Reads something about a stack of layers (a stage's, or the ones below its newest) once per build and platform, however many instructions ask. */
  readOnce<T>(layers: readonly Descriptor[], what: string, read: () => Promise<T>): Promise<T>;
}
