// Platforms the user writes are recorded normalized (containerd's rules), and the user is told
// when that changed what they wrote: `x86_64` becomes `amd64` with a notice, not silently.
import type { Platform } from '../platform/platform.js';
import { describeNormalization, normalizePlatform } from '../platform/normalize.js';
import { formatPlatform, parsePlatform, parsePlatformList } from '../platform/platform.js';

/** Receives one-line notices (normalized platforms, replaced or skipped entries). */
export type NoticeHandler = (message: string) => void;

/**
 * Validates a specifier like parsePlatform, but returns the fields as written (`linux/x86_64`
 * stays x86_64), so normalization can happen later with a notice. Single tokens (`arm64`,
 * `linux`) are returned as parsed: there is nothing written to keep.
 */
export function platformAsWritten(text: string): Platform {
  const parsed = parsePlatform(text);
  const [os = '', architecture = '', variant] = text.split('/');
  if (architecture === '') return parsed;
  const { variant: _normalized, ...rest } = parsed;
  return { ...rest, os: os.replace(/\(.*$/, ''), architecture, ...(variant ? { variant } : {}) };
}

/**
 * The platform to record for `what`, normalized; `onNotice` hears what normalization changed.
 * With `namesOnly` (a platform read from a config), only a renamed os or architecture is worth a
 * notice: dropping arm64's baseline `v8` is routine.
 */
export function normalizeWithNotice(platform: Platform, what: string, onNotice: NoticeHandler | undefined, options: { readonly namesOnly?: boolean } = {}): Platform {
  const normalized = normalizePlatform(platform);
  const renamed = platform.os !== normalized.os || platform.architecture !== normalized.architecture;
  const change = describeNormalization(platform, normalized);
  if (change && onNotice && (renamed || !options.namesOnly)) onNotice(`${what}: ${change}`);
  return normalized;
}

/**
 * parsePlatformList, telling `onNotice` of each platform whose written form normalization changed
 * (`x86_64` is linux/amd64, `linux/arm` is linux/arm/v7): what is built is then never a surprise.
 */
export function parsePlatformListWithNotices(text: string, onNotice: NoticeHandler): Platform[] {
  const platforms = parsePlatformList(text);
  text.split(',').forEach((item, at) => noticeIfRenamed(item, platforms[at]!, onNotice));
  return platforms;
}

/** parsePlatform, telling `onNotice` when normalization changed what was written (`run --platform x86_64`). */
export function parsePlatformWithNotice(text: string, onNotice: NoticeHandler): Platform {
  const platform = parsePlatform(text);
  noticeIfRenamed(text, platform, onNotice);
  return platform;
}

function noticeIfRenamed(written: string, platform: Platform, onNotice: NoticeHandler): void {
  const asWritten = written.trim();
  const taken = formatPlatform(platform);
  if (asWritten !== taken) onNotice(`platform ${asWritten} is ${taken}`);
}
