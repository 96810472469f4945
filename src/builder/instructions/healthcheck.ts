// HEALTHCHECK: the config's Healthcheck object, as BuildKit writes it.
import { badDockerfile, execForm, flagValue, type Instruction } from '../dockerfile.js';

/** A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds, as the image config stores them. */
function durationNs(text: string, flag: string, file: string, line: number): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw badDockerfile(file, line, `HEALTHCHECK --${flag}=${text}: expected a duration such as 30s or 1m30s`);
  return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]!]!, 0));
}

/** HEALTHCHECK [--interval --timeout --start-period --start-interval --retries] CMD … | NONE, as BuildKit writes it. */
export function healthcheck(i: Instruction, file: string): Record<string, unknown> {
  if (i.args[0]?.toUpperCase() === 'NONE') return { Test: ['NONE'] };
  if (i.args[0]?.toUpperCase() !== 'CMD') throw badDockerfile(file, i.line, 'HEALTHCHECK needs CMD or NONE');
  const rest = i.text.replace(/^CMD\s+/i, '');
  const json = execForm(rest);
  const check: Record<string, unknown> = { Test: json ? ['CMD', ...json] : ['CMD-SHELL', rest] };
  const fields: [string, string][] = [['interval', 'Interval'], ['timeout', 'Timeout'], ['start-period', 'StartPeriod'], ['start-interval', 'StartInterval']];
  for (const [flag, field] of fields) {
    const value = flagValue(i, flag);
    if (value !== undefined) check[field] = durationNs(value, flag, file, i.line);
  }
  const retriesFlag = flagValue(i, 'retries');
  if (retriesFlag !== undefined) {
    // Decimal digits only: Number() would also take '0x5', '1e3' and ' '.
    const retries = /^\d{1,9}$/.test(retriesFlag) ? Number(retriesFlag) : Number.NaN;
    if (Number.isNaN(retries)) throw badDockerfile(file, i.line, `HEALTHCHECK --retries=${retriesFlag}: expected a whole number`);
    check.Retries = retries;
  }
  return check;
}
