// manifest-tool's inputs: its YAML spec file and its from-args template, read into sources for
// assembleIndex. Unlike manifest-tool, no whitelist: any variant (arm64/v8.2, amd64/v3,
// riscv64) is accepted and normalized by containerd's rules.
// https://github.com/estesp/manifest-tool (README "Specifying the Manifest List")
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { Platform } from '../platform/platform.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { parsePlatform, parsePlatformList } from '../platform/platform.js';
import type { SourceSpec } from './assemble.js';

export interface PushSpec {
  /** Every target: the spec's image, and the same repository with each extra tag. */
  readonly targets: readonly string[];
  readonly sources: readonly SourceSpec[];
}

function fail(file: string, why: string): never {
  throw new PolyarchError('USAGE', `spec file ${file}: ${why}`, { badInput: true });
}

/** Replaces the repository tag of `image` (host ports survive). */
function withTagText(image: string, tag: string): string {
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  const at = image.indexOf('@');
  const base = at >= 0 ? image.slice(0, at) : colon > slash ? image.slice(0, colon) : image;
  return `${base}:${tag}`;
}

export function parsePushSpec(text: string, file = 'spec'): PushSpec {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    fail(file, `not valid YAML (${(error as Error).message.split('\n')[0]})`);
  }
  const spec = doc as { image?: unknown; tags?: unknown; manifests?: unknown };
  if (typeof spec?.image !== 'string' || spec.image === '') fail(file, 'needs "image" (the target)');
  if (!Array.isArray(spec.manifests) || spec.manifests.length === 0) fail(file, 'needs a list of "manifests"');
  const tags = spec.tags === undefined ? [] : Array.isArray(spec.tags) ? spec.tags.map(String) : fail(file, '"tags" must be a list');
  const sources = spec.manifests.map((m: unknown, i: number): SourceSpec => {
    const entry = m as { image?: unknown; platform?: { architecture?: unknown; os?: unknown; variant?: unknown; osversion?: unknown; features?: unknown } };
    if (typeof entry?.image !== 'string') fail(file, `manifests[${i}] needs "image"`);
    const p = entry.platform;
    if (!p) return { location: entry.image };
    if (typeof p.architecture !== 'string' || typeof p.os !== 'string') fail(file, `manifests[${i}].platform needs "os" and "architecture"`);
    const text = `${p.os}/${p.architecture}${typeof p.variant === 'string' && p.variant !== '' ? `/${p.variant}` : ''}`;
    const parsed = parsePlatform(text);
    const platform: Platform = { ...parsed, ...(typeof p.osversion === 'string' ? { 'os.version': p.osversion } : {}), ...(Array.isArray(p.features) ? { features: p.features.map(String) } : {}) };
    return { location: entry.image, platform };
  });
  return { targets: [spec.image, ...tags.map((t: string) => withTagText(spec.image as string, t))], sources };
}

export async function readPushSpec(file: string): Promise<PushSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    fail(file, (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message);
  }
  return parsePushSpec(text, file);
}

/** from-args: `--template REG/foo-OSARCHVARIANT:1.0` expanded once per platform (manifest-tool's placeholders). */
export function expandTemplate(template: string, platforms: string, target: string): PushSpec {
  if (!/OS|ARCH/.test(template)) throw new PolyarchError('USAGE', `template "${template}" must contain OS or ARCH placeholders`, { badInput: true });
  const sources = parsePlatformList(platforms).map((platform) => ({
    location: template
      .replace(/ARCH/g, platform.architecture)
      .replace(/VARIANT/g, platform.variant ?? '')
      .replace(/OS/g, platform.os),
    platform,
  }));
  return { targets: [target], sources };
}
