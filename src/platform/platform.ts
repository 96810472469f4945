import { PolyarchError } from '../errors/polyarch-error.js';
import { normalizeArch, normalizeOs, normalizePlatform } from './normalize.js';

/**
 * The platform an image runs on, with the OCI field names.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/image-index.md#image-index-property-descriptions
 */
export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
  /** Reserved by the image-spec; carried through, never interpreted. */
  readonly features?: readonly string[];
}

export interface ParsePlatformOptions {
  /** Fills the half a single-token specifier leaves out, and answers `local`. */
  readonly host?: Platform;
}

// containerd/platforms platforms.go: the first component is `os[(osversion[+feature…])]`, the others plain tokens.
const OS_PATTERN = /^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?$/;
const COMPONENT_PATTERN = /^[A-Za-z0-9_.-]+$/;

/** Whether `text` can be an architecture, variant or plain OS name in a platform (letters, digits, `_`, `.`, `-`). */
export function isPlatformComponent(text: string): boolean {
  return COMPONENT_PATTERN.test(text);
}

// Go's GOOS list (containerd database.go isKnownOS): decides whether a lone token is an OS or an arch.
const KNOWN_OS: ReadonlySet<string> = new Set([
  'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux',
  'nacl', 'netbsd', 'openbsd', 'plan9', 'solaris', 'windows', 'zos',
]);

// Go's GOARCH list (containerd database.go isKnownArch), after normalization.
const KNOWN_ARCH: ReadonlySet<string> = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'loong64', 'mips', 'mipsle', 'mips64',
  'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'ppc64', 'ppc64le', 'riscv', 'riscv64', 's390', 's390x',
  'sparc', 'sparc64', 'wasm',
]);

/**
 * Why `platform` cannot be a machine's platform (an OS or architecture Go does not know), or
 * undefined when it can. Index entries may name anything; a host must be real.
 */
export function unknownPlatformReason(platform: Platform): string | undefined {
  const normalized = normalizePlatform(platform);
  if (!KNOWN_OS.has(normalized.os)) return `unknown OS "${platform.os}"`;
  if (!KNOWN_ARCH.has(normalized.architecture)) return `unknown architecture "${platform.architecture}"`;
  return undefined;
}

function invalid(text: string, why: string): PolyarchError {
  return new PolyarchError('INVALID_PLATFORM', `cannot parse platform "${text}": ${why}`);
}

function decodeOsOption(text: string, value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    throw invalid(text, `bad percent-encoding in "${value}"`);
  }
}

/** Builds a platform object without keys for absent values (exactOptionalPropertyTypes). */
function platformOf(
  os: string,
  architecture: string,
  variant: string | undefined,
  osVersion: string | undefined,
  osFeatures: readonly string[] | undefined,
): Platform {
  return {
    architecture,
    os,
    ...(variant ? { variant } : {}),
    ...(osVersion ? { 'os.version': osVersion } : {}),
    ...(osFeatures && osFeatures.length > 0 ? { 'os.features': osFeatures } : {}),
  };
}

/**
 * Parses a containerd platform specifier: `os[(osversion[+feature…])]`, `arch`, `os/arch`,
 * `os/arch/variant`, or `local` (the host). The result is normalized (`linux/arm` → arm/v7,
 * `linux/arm64/v8` → arm64). Unknown names are accepted: there is no whitelist.
 * https://github.com/containerd/platforms/blob/main/platforms.go (Parse)
 */
export function parsePlatform(text: string, options: ParsePlatformOptions = {}): Platform {
  const { host } = options;
  if (text === '') throw invalid(text, 'empty specifier');
  if (text.includes('*')) throw invalid(text, 'wildcards are not supported');
  if (text === 'local') {
    if (!host) throw invalid(text, '"local" needs the host platform, and none was given');
    return normalizePlatform(host);
  }
  const parts = text.split('/');
  if (parts.length > 3) throw invalid(text, 'too many components');

  const [first = '', second, third] = parts;
  const osMatch = OS_PATTERN.exec(first);
  if (!osMatch) {
    const why = first === '' ? 'empty OS component' : `"${first}" is not a valid OS component (expected os or os(version+feature…))`;
    throw invalid(text, why);
  }
  for (const part of parts.slice(1)) {
    if (!COMPONENT_PATTERN.test(part)) {
      throw invalid(text, part === '' ? 'empty component' : `"${part}" is not a valid component (letters, digits, "_", "." and "-" only)`);
    }
  }
  const name = osMatch[1] ?? '';
  const hasOsOptions = osMatch[2] !== undefined;
  const osVersion = decodeOsOption(text, osMatch[2] ?? '');
  const osFeatures = (osMatch[3] ?? '')
    .split('+')
    .slice(1)
    .map((f) => decodeOsOption(text, f))
    .filter((f) => f !== '');

  if (second === undefined) {
    const os = normalizeOs(name);
    // A lone token is an OS when Go knows it (or it carries OS options), otherwise an arch.
    if (hasOsOptions || KNOWN_OS.has(os)) {
      if (!host) throw invalid(text, `"${name}" names only an OS, and no host platform was given to take the architecture from`);
      const fromHost = normalizePlatform(host);
      return normalizePlatform(platformOf(os, fromHost.architecture, fromHost.variant, osVersion, osFeatures));
    }
    const arch = normalizeArch(name, undefined);
    // containerd's Parse: a lone word that is neither a known OS nor a known architecture is an error, not linux/<word>.
    if (!KNOWN_ARCH.has(arch.architecture)) throw invalid(text, `"${name}" is neither an operating system nor an architecture Go knows`);
    return normalizePlatform(platformOf(host ? normalizeOs(host.os) || 'linux' : 'linux', arch.architecture, arch.variant, undefined, undefined));
  }
  return normalizePlatform(platformOf(name, second, third, osVersion, osFeatures));
}

/** Parses `linux/amd64,linux/arm64` (spaces around commas allowed). */
export function parsePlatformList(text: string, options: ParsePlatformOptions = {}): Platform[] {
  const items = text.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) {
    throw new PolyarchError('INVALID_PLATFORM', `cannot parse platform list "${text}": empty entry`);
  }
  return items.map((item) => parsePlatform(item, options));
}

/**
 * `os/arch[/variant]`, or `unknown` when the OS is empty (containerd Format).
 * https://github.com/containerd/platforms/blob/main/platforms.go (Format)
 */
export function formatPlatform(platform: Platform): string {
  if (!platform.os) return 'unknown';
  return [platform.os, platform.architecture, platform.variant ?? ''].filter((s) => s !== '').join('/');
}

// Everything the parser's `(…)` grammar does not take as is: syntax (`%+()/`), and also controls,
// spaces and non-ASCII (as UTF-8 bytes), so that whatever parsePlatform decoded formats back to
// text it parses again to the same value.
function encodeOsOption(value: string): string {
  return value.replace(/[^A-Za-z0-9_.-]/gu, (c) => [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

/**
 * Like formatPlatform, plus `(osversion+feature…)` after the OS (containerd FormatAll).
 * Features are written sorted and de-duplicated.
 */
export function formatPlatformFull(platform: Platform): string {
  if (!platform.os) return 'unknown';
  const osVersion = platform['os.version'] ?? '';
  const features = [...new Set(platform['os.features'] ?? [])].filter((f) => f !== '').sort();
  if (osVersion === '' && features.length === 0) return formatPlatform(platform);
  const options = encodeOsOption(osVersion) + features.map((f) => `+${encodeOsOption(f)}`).join('');
  return formatPlatform({ ...platform, os: `${platform.os}(${options})` });
}
