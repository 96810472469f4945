// Does an image's content run on the platform it declares? Given the image's files (layers
// stacked), its config and its declared platform: resolve the entrypoint/cmd the way a runtime
// would (PATH lookup, symbolic links, `#!` interpreters, the ELF's PT_INTERP loader), and sweep
// every ELF directly in the PATH directories and the library directories (plus their
// `<triplet>` subdirectories, such as /usr/lib/x86_64-linux-gnu). Deeper trees are left alone:
// they legitimately hold other architectures' files (firmware, cross toolchains, bootloaders).
import type { ImageConfig } from '../image/config.js';
import type { Platform } from '../platform/platform.js';
import { normalizePlatform } from '../platform/normalize.js';
import { formatPlatform } from '../platform/platform.js';
import { finding, type Finding } from './finding.js';
import type { ImageFiles } from './layer-files.js';
import { describeExpected, elfMismatch, expectedElf, expectedPeMachine, peMismatch, type ExpectedElf } from './machine.js';

/** Docker's default when the config sets no PATH. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const LIBRARY_DIRS = ['/lib', '/lib64', '/lib32', '/libx32', '/usr/lib', '/usr/lib64', '/usr/lib32', '/usr/libx32', '/usr/local/lib'];
/** Multiarch subdirectories of the library directories: aarch64-linux-gnu, arm-linux-gnueabihf, x86_64-linux-musl… */
const TRIPLET = /^[a-z0-9_]+-(?:[a-z0-9_]+-)?linux-[a-z0-9_]+$/;
/** The kernel follows at most this many `#!` interpreters in a row (BINPRM_MAX_RECURSION). */
const MAX_INTERPRETER_DEPTH = 4;
/** Findings of one rule per platform shown in full; the rest are counted in one more finding. */
const MAX_FINDINGS_PER_RULE = 10;

export interface BinaryCheckInput {
  readonly platform: Platform;
  readonly config?: ImageConfig;
  readonly files: ImageFiles;
}

type Expectation = { readonly kind: 'elf'; readonly elf: ExpectedElf } | { readonly kind: 'pe'; readonly machine: number };

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
}

function pathOf(config: ImageConfig | undefined): string {
  const env = stringList(config?.config?.['Env']) ?? [];
  const entry = env.find((e) => e.startsWith('PATH='));
  return entry === undefined ? DEFAULT_PATH : entry.slice('PATH='.length);
}

class Checker {
  readonly findings: Finding[] = [];
  readonly #reported = new Set<string>();
  readonly #counts = new Map<string, number>();
  readonly #label: string;
  readonly #expectation: Expectation;
  readonly #pathDirs: string[];

  constructor(
    readonly files: ImageFiles,
    platform: Platform,
    expectation: Expectation,
    readonly config: ImageConfig | undefined,
  ) {
    this.#label = formatPlatform(platform);
    this.#expectation = expectation;
    this.#pathDirs = pathOf(config)
      .split(':')
      .filter((d) => d.startsWith('/'));
  }

  add(severity: Finding['severity'], rule: Finding['rule'], detail: string): void {
    const count = (this.#counts.get(rule) ?? 0) + 1;
    this.#counts.set(rule, count);
    if (count <= MAX_FINDINGS_PER_RULE) this.findings.push(finding(severity, rule, detail, this.#label));
  }

  /** One more finding per rule that went over the limit, saying how many were left out. */
  summarize(): void {
    for (const [rule, count] of this.#counts) {
      const example = this.findings.find((f) => f.rule === rule);
      if (count > MAX_FINDINGS_PER_RULE && example) {
        this.findings.push(finding(example.severity, example.rule, `and ${count - MAX_FINDINGS_PER_RULE} more like the above`, this.#label));
      }
    }
  }

  /** Checks one file against the platform; returns true when it is a binary that fits. */
  checkBinary(key: string, shownAs: string): boolean | undefined {
    const entry = this.files.get(key);
    if (entry?.type !== 'file') return undefined;
    const kind = entry.kind;
    const e = this.#expectation;
    if (kind.format === 'elf-invalid' || kind.format === 'pe-invalid') {
      if (this.#once(key)) this.add('warning', 'invalid-binary', `${shownAs}: ${kind.why}`);
      return false;
    }
    let mismatch: string | undefined;
    if (kind.format === 'elf' && e.kind === 'elf') mismatch = elfMismatch(kind, e.elf);
    else if (kind.format === 'pe' && e.kind === 'pe') mismatch = peMismatch(kind, e.machine);
    else return undefined;
    if (mismatch !== undefined) {
      if (this.#once(key)) this.add('error', 'binary-arch-mismatch', `${shownAs} ${mismatch}`);
      return false;
    }
    return true;
  }

  #once(key: string): boolean {
    if (this.#reported.has(key)) return false;
    this.#reported.add(key);
    return true;
  }

  /** PATH lookup as execvp does: the first PATH directory holding a regular file of that name. */
  lookUp(program: string): { key: string } | { error: string } {
    if (program.includes('/')) {
      const cwd = typeof this.config?.config?.['WorkingDir'] === 'string' ? (this.config.config['WorkingDir'] as string) : '/';
      return this.files.resolve(program, cwd);
    }
    let lastError: string | undefined;
    for (const dir of this.#pathDirs) {
      const found = this.files.resolve(`${dir}/${program}`);
      if ('key' in found && this.files.get(found.key)?.type === 'file') return found;
      if ('error' in found) lastError = found.error;
    }
    return { error: lastError ?? `${program} is in none of the PATH directories (${this.#pathDirs.join(':')})` };
  }

  /** The entrypoint (or cmd) and everything it needs to start: interpreters and the ELF loader. */
  checkEntrypoint(): boolean {
    const entrypoint = stringList(this.config?.config?.['Entrypoint']) ?? [];
    const cmd = stringList(this.config?.config?.['Cmd']) ?? [];
    const argv = [...entrypoint, ...cmd];
    const program = argv[0];
    if (program === undefined || program === '') return false;
    const which = entrypoint.length > 0 ? 'entrypoint' : 'cmd';
    this.#checkProgram(program, `${which} ${program}`, 0);
    return true;
  }

  #checkProgram(program: string, shownAs: string, depth: number): void {
    const found = this.lookUp(program);
    if ('error' in found) {
      this.add('error', 'entrypoint-missing', `${shownAs}: ${found.error}`);
      return;
    }
    const entry = this.files.get(found.key);
    if (entry?.type !== 'file') {
      this.add('error', 'entrypoint-missing', `${shownAs}: /${found.key} does not exist in the image`);
      return;
    }
    const name = `/${found.key}` === program ? shownAs : `${shownAs} (/${found.key})`;
    // execve needs an execute bit, root's too: a program of mode 0644 never starts (126).
    if ((entry.mode & 0o111) === 0) {
      this.add('error', 'entrypoint-not-executable', `${name} has mode ${(entry.mode & 0o7777).toString(8).padStart(4, '0')}: no execute bit`);
      return;
    }
    const kind = entry.kind;
    if (kind.format === 'script') {
      if (depth >= MAX_INTERPRETER_DEPTH) {
        this.add('error', 'entrypoint-not-executable', `${name}: more than ${MAX_INTERPRETER_DEPTH} #! interpreters in a row`);
        return;
      }
      if (!kind.interpreter.startsWith('/')) {
        this.add('error', 'entrypoint-not-executable', `${name}: #! interpreter ${kind.interpreter} is not an absolute path`);
        return;
      }
      this.#checkProgram(kind.interpreter, `#! interpreter ${kind.interpreter} of ${name}`, depth + 1);
      // `#!/usr/bin/env python3`: env runs the named program from PATH.
      const envTarget = kind.interpreter.endsWith('/env') ? kind.argument?.split(/[ \t]+/).find((w) => !w.startsWith('-') && !w.includes('=')) : undefined;
      if (envTarget !== undefined) this.#checkProgram(envTarget, `${envTarget} (run by env) for ${name}`, depth + 1);
      return;
    }
    if (kind.format === 'other') {
      this.add('error', 'entrypoint-not-executable', `${name} is neither a binary nor a #! script`);
      return;
    }
    const fits = this.checkBinary(found.key, name);
    if (fits && kind.format === 'elf' && kind.interpreter !== undefined) {
      const loader = this.files.resolve(kind.interpreter);
      const loaderEntry = 'key' in loader ? this.files.get(loader.key) : undefined;
      if (!('key' in loader) || loaderEntry?.type !== 'file') {
        this.add('error', 'interpreter-missing', `${name} needs the loader ${kind.interpreter}, which ${'error' in loader ? `cannot be resolved: ${loader.error}` : 'is not in the image'}`);
        return;
      }
      const loaderName = `loader ${kind.interpreter}${`/${loader.key}` === kind.interpreter ? '' : ` (/${loader.key})`} of ${name}`;
      if (loaderEntry.kind.format !== 'elf' && loaderEntry.kind.format !== 'elf-invalid') {
        this.add('error', 'interpreter-missing', `${loaderName} is not an ELF binary`);
        return;
      }
      this.checkBinary(loader.key, loaderName);
    }
  }

  /** Every binary directly in a PATH or library directory (or a library directory's triplet subdirectory). */
  sweep(): number {
    const direct = new Set<string>();
    const withTriplets = new Set<string>();
    for (const dir of this.#pathDirs) {
      const found = this.files.resolve(dir);
      if ('key' in found) direct.add(found.key);
    }
    for (const dir of LIBRARY_DIRS) {
      const found = this.files.resolve(dir);
      if ('key' in found) withTriplets.add(found.key);
    }
    let checked = 0;
    for (const [key, entry] of this.files.files()) {
      if (entry.type !== 'file') continue;
      const slash = key.lastIndexOf('/');
      const parent = slash < 0 ? '' : key.slice(0, slash);
      const up = parent.lastIndexOf('/');
      const inScope =
        direct.has(parent) || withTriplets.has(parent) || (up >= 0 && withTriplets.has(parent.slice(0, up)) && TRIPLET.test(parent.slice(up + 1))) || (up < 0 && parent !== '' && withTriplets.has('') && TRIPLET.test(parent));
      if (!inScope) continue;
      if (this.checkBinary(key, `/${key}`) !== undefined) checked++;
    }
    return checked;
  }
}

/** The binary check of one image: findings only (an empty list means every binary examined fits). */
export function checkBinaries(input: BinaryCheckInput): Finding[] {
  const label = formatPlatform(input.platform);
  const normalized = normalizePlatform(input.platform);
  let expectation: Expectation | undefined;
  if (normalized.os === 'windows') {
    const machine = expectedPeMachine(normalized);
    if (machine !== undefined) expectation = { kind: 'pe', machine };
  } else {
    const elf = expectedElf(normalized);
    if (elf) expectation = { kind: 'elf', elf };
  }
  if (!expectation) {
    return [finding('info', 'unknown-architecture', `no known binary format for ${label}; binaries not checked`, label)];
  }
  const checker = new Checker(input.files, input.platform, expectation, input.config);
  // Windows images run by absolute or PATHEXT rules this does not model: sweep their PE files only.
  const hasEntrypoint = expectation.kind === 'elf' ? checker.checkEntrypoint() : false;
  const checked = expectation.kind === 'elf' ? checker.sweep() : sweepAllPe(checker);
  checker.summarize();
  if (input.files.truncated) {
    checker.findings.push(finding('warning', 'scan-limit', `the image has more than ${input.files.maxEntries} paths; only the first ${input.files.maxEntries} were examined`, label));
  }
  if (!hasEntrypoint && checked === 0) {
    checker.findings.push(finding('info', 'no-binaries', `no entrypoint or cmd, and no ${describeExpected(input.platform) ?? 'binary'} in the PATH or library directories`, label));
  }
  return checker.findings;
}

function sweepAllPe(checker: Checker): number {
  let checked = 0;
  for (const [key, entry] of checker.files.files()) {
    if (entry.type === 'file' && (entry.kind.format === 'pe' || entry.kind.format === 'pe-invalid') && checker.checkBinary(key, `/${key}`) !== undefined) checked++;
  }
  return checked;
}
