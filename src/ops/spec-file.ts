// manifest-tool's inputs: its YAML spec file and its from-args template, read into sources for
// assembleIndex. Unlike manifest-tool, no whitelist: any variant (arm64/v8.2, amd64/v3,
// riscv64) is accepted, then normalized by containerd's rules with a notice.
// https://github.com/estesp/manifest-tool (README "Specifying the Manifest List"; v2/cmd/manifest-tool/push.go)
import { lazyModule } from '../internal/lazy-module.js';
import type { Platform } from '../platform/platform.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { MAX_SMALL_FILE_BYTES, readProblem, readRegularFile } from '../internal/regular-file.js';
import { platformAsWritten } from './platform-input.js';
import type { SourceSpec } from './assemble.js';

const yaml = lazyModule<typeof import('yaml')>('yaml');

export interface PushSpec {
  /** Every target: the spec's image, and the same repository with each extra tag. */
  readonly targets: readonly string[];
  readonly sources: readonly SourceSpec[];
  /** Index annotations (the spec's `annotations`; they need an OCI index). */
  readonly annotations?: Readonly<Record<string, string>>;
}

function fail(file: string, why: string): never {
  throw new PolyarchError('CONFIG_INVALID', `spec file ${file}: ${why}`);
}

/** Replaces the tag of `image` (host ports survive, a digest is dropped). */
function withTagText(image: string, tag: string): string {
  const at = image.indexOf('@');
  const name = at >= 0 ? image.slice(0, at) : image;
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return `${colon > slash ? name.slice(0, colon) : name}:${tag}`;
}

/** The targets for `image` plus extra tags in its repository. */
export function targetsWithTags(image: string, tags: readonly string[]): string[] {
  return [image, ...tags.map((t) => withTagText(image, t))];
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.map(String).filter((s) => s !== '') : undefined;
}

// go-yaml reads ocispec.Platform with lower-cased field names: osversion, osfeatures.
function specPlatform(value: unknown, file: string, where: string): Platform | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object') fail(file, `${where} must be a mapping`);
  const p = value as Record<string, unknown>;
  const text = (key: string): string => (p[key] === undefined || p[key] === null ? '' : String(p[key]));
  const os = text('os');
  const architecture = text('architecture');
  if (os === '' && architecture === '') return undefined; // manifest-tool then reads the image's own
  if (os === '' || architecture === '') fail(file, `${where} needs both "os" and "architecture"`);
  const variant = text('variant');
  const osVersion = text('osversion');
  const osFeatures = stringList(p.osfeatures);
  const features = stringList(p.features);
  return {
    ...platformAsWritten(`${os}/${architecture}${variant ? `/${variant}` : ''}`),
    ...(osVersion ? { 'os.version': osVersion } : {}),
    ...(osFeatures?.length ? { 'os.features': osFeatures } : {}),
    ...(features?.length ? { features } : {}),
  };
}

/** Parses a push spec (manifest-tool's YAML: image, manifests with platforms, tags); `file` names it in errors. */
export function parsePushSpec(text: string, file = 'spec'): PushSpec {
  // Loaded outside the try: a parser that cannot load is not the file's fault.
  const parser = yaml();
  let doc: unknown;
  try {
    doc = parser.parse(text);
  } catch (error) {
    fail(file, `not valid YAML (${(error as Error).message.split('\n')[0]})`);
  }
  const spec = (doc ?? {}) as { image?: unknown; tags?: unknown; manifests?: unknown; annotations?: unknown };
  if (typeof spec.image !== 'string' || spec.image === '') fail(file, 'needs "image" (the target)');
  if (!Array.isArray(spec.manifests) || spec.manifests.length === 0) fail(file, 'needs a list of "manifests"');
  const tags = spec.tags === undefined || spec.tags === null ? [] : (stringList(spec.tags) ?? fail(file, '"tags" must be a list'));
  let annotations: Record<string, string> | undefined;
  if (spec.annotations !== undefined && spec.annotations !== null) {
    if (typeof spec.annotations !== 'object' || Array.isArray(spec.annotations)) fail(file, '"annotations" must be a mapping');
    annotations = Object.fromEntries(Object.entries(spec.annotations).map(([k, v]) => [k, String(v)]));
  }
  const sources = spec.manifests.map((m: unknown, i: number): SourceSpec => {
    const entry = (m ?? {}) as { image?: unknown; platform?: unknown };
    if (typeof entry.image !== 'string' || entry.image === '') fail(file, `manifests[${i}] needs "image"`);
    const platform = specPlatform(entry.platform, file, `manifests[${i}].platform`);
    return platform ? { location: entry.image, platform, completeFromConfig: true } : { location: entry.image };
  });
  return { targets: targetsWithTags(spec.image, tags), sources, ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}) };
}

/** Reads and parses a push spec file (see {@link parsePushSpec}). */
export async function readPushSpec(file: string): Promise<PushSpec> {
  let text: string;
  try {
    text = await readRegularFile(file, MAX_SMALL_FILE_BYTES);
  } catch (error) {
    fail(file, readProblem(error));
  }
  return parsePushSpec(text, file);
}

/**
 * from-args: `--template REG/foo-OSARCHVARIANT:1.0` expanded once per platform as manifest-tool
 * does it (the first ARCH, then OS, then VARIANT, each replaced by the platform as written), so
 * `linux/arm64/v8` still names `foo-linuxarm64v8`. The recorded platform is normalized later.
 */
export function expandTemplate(template: string, platforms: string | readonly string[], target: string, tags: readonly string[] = []): PushSpec {
  if (!/OS|ARCH/.test(template)) throw new PolyarchError('USAGE', `template "${template}" must contain OS or ARCH placeholders`);
  const items = (typeof platforms === 'string' ? [platforms] : platforms).flatMap((p) => p.split(',')).map((p) => p.trim());
  const sources = items.map((item): SourceSpec => {
    const parts = item.split('/');
    if (parts.length !== 2 && parts.length !== 3) {
      throw new PolyarchError('INVALID_PLATFORM', `cannot use platform "${item}" in a template: expected os/arch or os/arch/variant`);
    }
    const [os = '', arch = '', variant = ''] = parts;
    const platform = platformAsWritten(item);
    const location = template.replace('ARCH', arch).replace('OS', os).replace('VARIANT', variant);
    return { location, platform, completeFromConfig: true };
  });
  return { targets: targetsWithTags(target, tags), sources };
}
