import type { Platform } from '../platform/platform.js';
import { PolyarchError } from '../errors/polyarch-error.js';

/**
 * The image configuration's fields polyarch reads.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/config.md
 */
export interface ImageConfig {
  readonly architecture?: string;
  readonly os?: string;
  readonly variant?: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
  readonly created?: string;
  readonly config?: Readonly<Record<string, unknown>>;
  readonly rootfs?: { readonly type: string; readonly diff_ids: readonly string[] };
  readonly history?: readonly Readonly<Record<string, unknown>>[];
}

export function parseImageConfig(bytes: Buffer, what = 'image config'): ImageConfig {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('expected a JSON object');
    return value as ImageConfig;
  } catch (error) {
    throw new PolyarchError('MANIFEST_INVALID', `${what}: ${(error as Error).message}`, { cause: error });
  }
}

/** The platform an image config declares, as written (normalize it at the boundary that needs it). */
export function platformOfConfig(config: ImageConfig): Platform | undefined {
  if (!config.architecture || !config.os) return undefined;
  return {
    architecture: config.architecture,
    os: config.os,
    ...(config.variant ? { variant: config.variant } : {}),
    ...(config['os.version'] ? { 'os.version': config['os.version'] } : {}),
    ...(config['os.features'] && config['os.features'].length > 0 ? { 'os.features': config['os.features'] } : {}),
  };
}
