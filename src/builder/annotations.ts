// `--annotation` in buildx's grammar: `[TYPE[,TYPE…][[PLATFORM]]:]KEY=VALUE`, where TYPE is
// manifest, index or manifest-descriptor, and PLATFORM limits it to one image. Without a TYPE,
// `build` annotates manifests (as `buildx build`), `index create` the index (as `imagetools create`).
import type { Platform } from '../platform/platform.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { parsePlatform } from '../platform/platform.js';
import { normalizePlatform } from '../platform/normalize.js';
import { samePlatform } from '../platform/match.js';

export type AnnotationTarget = 'manifest' | 'index' | 'manifest-descriptor';

export interface Annotation {
  readonly targets: readonly AnnotationTarget[];
  readonly platform?: Platform;
  readonly key: string;
  readonly value: string;
}

const TARGETS: readonly string[] = ['manifest', 'index', 'manifest-descriptor'];
const PREFIX = /^([a-z,-]+)(?:\[([^\]]+)\])?:(.*)$/;

/** One `--annotation` in buildx's grammar; a text without a TYPE annotates `defaultTarget`. */
export function parseAnnotation(text: string, defaultTarget: AnnotationTarget = 'manifest'): Annotation {
  const bad = (why: string) => new PolyarchError('USAGE', `--annotation ${text}: ${why}`);
  const eq = text.indexOf('=');
  if (eq <= 0) throw bad('expected [TYPE:]KEY=VALUE');
  const head = text.slice(0, eq);
  const prefix = PREFIX.exec(head);
  const targets = (prefix ? prefix[1]!.split(',') : [defaultTarget]) as AnnotationTarget[];
  const unknown = targets.find((t) => !TARGETS.includes(t));
  if (unknown) throw bad(`type "${unknown}" is not one of ${TARGETS.join(', ')}`);
  const key = prefix ? prefix[3]! : head;
  if (key === '') throw bad('the key is empty');
  if (prefix?.[2] && targets.includes('index')) throw bad('an index annotation cannot name a platform');
  let platform: Platform | undefined;
  try {
    platform = prefix?.[2] ? normalizePlatform(parsePlatform(prefix[2])) : undefined;
  } catch (error) {
    throw bad((error as Error).message);
  }
  return { targets, key, value: text.slice(eq + 1), ...(platform ? { platform } : {}) };
}

/** The annotations of one target (and, for images, one platform) as an object, or undefined. */
export function annotationsFor(list: readonly Annotation[] | undefined, target: AnnotationTarget, platform?: Platform): Record<string, string> | undefined {
  const picked = (list ?? []).filter((a) => a.targets.includes(target) && (!a.platform || (platform !== undefined && samePlatform(a.platform, platform))));
  return picked.length ? Object.fromEntries(picked.map((a) => [a.key, a.value])) : undefined;
}
