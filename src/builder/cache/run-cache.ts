// The RUN cache key: everything that decides what a step writes, so an unchanged rebuild reuses
// the layer without running anything. The parent chain (the stage's layer diffIDs so far), the
// argv (here-documents included), the environment the step sees (secrets given as variables are
// not in it), user, working directory, platform, network (and --add-host names), what the mounts
// hold (bind sources by content or layers; cache mounts and secrets by id only, never a secret's
// value), and the layer's timestamp and compression. Keys live beside the COPY keys (layer-cache.ts).
import { createHash } from 'node:crypto';
import { effectiveLevel, type CompressionOptions } from '../../layer/compression.js';
import { formatPlatform, type Platform } from '../../platform/platform.js';
import type { ExtraHost, NetworkMode } from '../executor/executor.js';

export interface RunKeyInput {
  readonly parent: readonly string[];
  readonly args: readonly string[];
  /** Here-document files the step runs (a `#!` document), by content. */
  readonly documents: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly user: string;
  readonly workdir: string;
  readonly platform: Platform;
  readonly network: NetworkMode;
  /** --add-host names; left out of the key when there are none, so keys made before they existed still match. */
  readonly extraHosts?: readonly ExtraHost[];
  readonly mounts: readonly unknown[];
  readonly created: Date;
  readonly compression: CompressionOptions;
}

/** The key file name (hex) for a RUN step; distinct from every COPY key by its leading tag. */
export function runCacheKey(input: RunKeyInput): string {
  const env = Object.entries(input.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const facts = [
    'run',
    1,
    input.parent,
    input.args,
    input.documents,
    env,
    input.user,
    input.workdir,
    formatPlatform(input.platform),
    input.extraHosts === undefined ? input.network : [input.network, input.extraHosts.map((h) => [h.name, h.ip])],
    input.mounts,
    input.created.toISOString(),
    input.compression.kind,
    effectiveLevel(input.compression),
  ];
  return createHash('sha256').update(JSON.stringify(facts)).digest('hex');
}
