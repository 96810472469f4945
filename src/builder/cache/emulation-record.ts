// The platforms this machine was seen to run, kept in the build cache. requireEmulation runs a
// probe program per platform (through qemu for foreign ones), which a warm build would otherwise
// pay for every time. A record holds only while the machine is as it was when the probes ran
// (emulationFingerprint: the same boot, binfmt_misc handlers and interpreter files); a failed
// check is never recorded, so installing the missing handler is seen by the next build.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { normalizePlatform } from '../../platform/normalize.js';
import { formatPlatform, type Platform } from '../../platform/platform.js';
import { writeFileAtomic } from '../../store/atomic-write.js';
import { emulationFingerprint, requireEmulation, type BinfmtOptions } from '../executor/binfmt.js';

/** The record's file in the build cache's directory. */
export const EMULATION_RECORD = 'polyarch-emulation.json';

interface EmulationRecord {
  readonly fingerprint: string;
  readonly platforms: readonly string[];
}

async function readRecord(file: string): Promise<EmulationRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(file, 'utf8')) as Partial<EmulationRecord>;
    if (typeof record.fingerprint !== 'string' || !Array.isArray(record.platforms) || !record.platforms.every((p) => typeof p === 'string')) return undefined;
    return { fingerprint: record.fingerprint, platforms: record.platforms };
  } catch {
    return undefined; // none yet, or unreadable: probe
  }
}

/** requireEmulation(platforms), skipped when `cacheDir` records every one of them as run on this machine as it is now. */
export async function requireEmulationRecorded(platforms: readonly Platform[], cacheDir: string, options: BinfmtOptions = {}): Promise<void> {
  const file = join(cacheDir, EMULATION_RECORD);
  const names = platforms.map((p) => formatPlatform(normalizePlatform(p)));
  const [fingerprint, record] = await Promise.all([emulationFingerprint(options), readRecord(file)]);
  const known = record?.fingerprint === fingerprint ? record.platforms : [];
  if (names.every((name) => known.includes(name))) return;
  await requireEmulation({ ...options, platforms });
  // Best effort: a cache that cannot be written only means the next build probes again.
  const seen: EmulationRecord = { fingerprint, platforms: [...new Set([...known, ...names])].sort() };
  await writeFileAtomic(file, Buffer.from(JSON.stringify(seen))).catch(() => undefined);
}
