// The Dockerfile frontend: dockerfile-ast parses; this turns its tree into plain instructions
// with 1-based line numbers, flags and KEY=VALUE properties, and reports bad input with file:line.
import type { Instruction as AstInstruction } from 'dockerfile-ast';
import { lazyModule } from '../internal/lazy-module.js';
import { PolyarchError } from '../errors/polyarch-error.js';

const dockerfileAst = lazyModule<typeof import('dockerfile-ast')>('dockerfile-ast');

export interface Instruction {
  readonly keyword: string;
  /** 1-based, for messages (`Dockerfile:7`). */
  readonly line: number;
  /** Everything after the keyword and flags, as written. */
  readonly text: string;
  readonly args: readonly string[];
  /**
   * Every --flag's values, in the order written: a flag that may repeat (`--mount`, `--exclude`)
   * keeps each one. Read single-valued flags with flagValue(), repeated ones with flagValues().
   */
  readonly flags: ReadonlyMap<string, readonly string[]>;
  /** KEY=VALUE pairs of ARG, ENV and LABEL; values as written, quotes and escapes kept for processWord. */
  readonly properties: readonly (readonly [string, string | undefined])[];
  /** CMD/ENTRYPOINT/SHELL/COPY in exec (JSON) form. */
  readonly json?: readonly string[];
  /**
   * Here-documents: COPY/ADD name them in `args` as `<<NAME`; a RUN's `text` is then its first
   * line (the command, without flags) and the documents follow, in order.
   */
  readonly heredocs?: readonly Heredoc[];
}

export interface Heredoc {
  readonly name: string;
  /** The document's text, with its final newline. */
  readonly content: string;
  /** Unquoted delimiters (`<<EOF`) expand variables; quoted ones (`<<"EOF"`) keep the text as is. */
  readonly expand: boolean;
  /** `3<<EOF`: the file descriptor a RUN's shell feeds it to (stdin when absent). */
  readonly fd?: number;
}

export interface ParsedDockerfile {
  readonly file: string;
  /** The escape character (`# escape=` directive; default backslash). */
  readonly escape: string;
  readonly instructions: readonly Instruction[];
}

const KNOWN = new Set(['FROM', 'ARG', 'ENV', 'LABEL', 'WORKDIR', 'USER', 'EXPOSE', 'VOLUME', 'CMD', 'ENTRYPOINT', 'SHELL', 'STOPSIGNAL', 'HEALTHCHECK', 'ONBUILD', 'COPY', 'ADD', 'RUN', 'MAINTAINER']);

/** A stretch of the parsed text, continued lines joined as BuildKit joins them (the escape at a line's end removed). */
type Position = { readonly line: number; readonly character: number };
function textIn(lines: readonly string[], start: Position, end: Position, escape: string): string {
  if (start.line === end.line) return (lines[start.line] ?? '').slice(start.character, end.character);
  const parts: string[] = [];
  for (let line = start.line; line <= end.line; line++) {
    const text = (lines[line] ?? '').slice(line === start.line ? start.character : 0, line === end.line ? end.character : undefined);
    parts.push(line === end.line ? text : text.replace(new RegExp(`${escape.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}\\s*$`), ''));
  }
  return parts.join('');
}

/** The exec (JSON array of strings) form of an instruction's text, or undefined for shell form, as BuildKit reads it. */
export function execForm(text: string): string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) && parsed.every((p) => typeof p === 'string') ? (parsed as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/** The value of a flag given once (the last one, if it was repeated), or undefined when it is absent. */
export function flagValue(i: Pick<Instruction, 'flags'>, name: string): string | undefined {
  return i.flags.get(name)?.at(-1);
}

/** Every value of a flag that may repeat (`--mount`, `--exclude`), in order; empty when it is absent. */
export function flagValues(i: Pick<Instruction, 'flags'>, name: string): readonly string[] {
  return i.flags.get(name) ?? [];
}

export function badDockerfile(file: string, line: number, why: string): PolyarchError {
  return new PolyarchError('USAGE', `${file}:${line}: ${why}`);
}

/** `3<<-"EOF"`: a file descriptor (optional), `-` to strip leading tabs, and the delimiter word, as BuildKit matches it. */
const HEREDOC_WORD = /^(\d*)<<(-?)([^<]+)$/;
/** A shell reads one digit before a redirection: `10<<EOF` would hand it the word `10`. */
const MAX_HEREDOC_FD = 9;
/** Leading `--flag` / `--flag=value` words (a value may be quoted). */
const FLAGS = /^(?:--[A-Za-z-]+(?:=(?:"[^"]*"|'[^']*'|\S)*)?\s+)+/;

/** A here-document word read: `3<<-"EOF"` → fd 3, strip tabs, delimiter EOF, no expansion. */
export interface HeredocWord {
  /** The file descriptor the shell feeds it to; undefined for stdin (`<<EOF`). */
  readonly fd?: number;
  readonly strip: boolean;
  readonly name: string;
  readonly expand: boolean;
}

/** The words of a line as a shell splits them, quotes and backslashes kept: `a "b c"` → `a`, `"b c"`. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote = '';
  for (let at = 0; at < line.length; at++) {
    const c = line[at]!;
    if (quote === '' && /\s/.test(c)) {
      if (word !== '') words.push(word);
      word = '';
      continue;
    }
    word += c;
    if (c === '\\' && quote !== "'" && at + 1 < line.length) word += line[++at];
    else if (quote === '' && (c === '"' || c === "'")) quote = c;
    else if (c === quote) quote = '';
  }
  if (word !== '') words.push(word);
  return words;
}

/**
 * A word that opens a here-document (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`), or undefined.
 * Quotes in the delimiter (`"EOF"`, `'EOF'`, `E"O"F`) keep the document's text unexpanded.
 */
export function heredocWord(word: string): HeredocWord | undefined {
  const match = HEREDOC_WORD.exec(word);
  if (!match) return undefined;
  const [, fd, strip, delimiter] = match as unknown as [string, string, string, string];
  const parts = shellWords(delimiter);
  if (parts.length !== 1) return undefined;
  const name = delimiter.replace(/\\(.)|"([^"]*)"|'([^']*)'/g, (_all, escaped?: string, double?: string, single?: string) => escaped ?? double ?? single ?? '');
  if (name === '' || /["']/.test(name)) return undefined;
  return { ...(fd !== '' ? { fd: Number(fd) } : {}), strip: strip === '-', name, expand: !/["']/.test(delimiter) };
}

/** The instruction's logical line: its physical lines joined while each ends with the escape character (comment lines between are skipped). */
function logicalLine(lines: readonly string[], start: number, escape: string): { text: string; next: number } {
  let text = '';
  let at = start;
  while (at < lines.length) {
    const line = lines[at++]!;
    if (at - 1 > start && /^\s*#/.test(line)) continue;
    const continued = line.trimEnd().endsWith(escape);
    text += continued ? line.trimEnd().slice(0, -1) : line;
    if (!continued) break;
  }
  return { text, next: at };
}

/** A RUN/COPY/ADD with here-documents, read from the Dockerfile's own lines. */
interface HeredocInstruction {
  /** The logical first line, keyword and flags included. */
  readonly first: string;
  /** The words after the keyword, flags left out, each document as `<<NAME`. */
  readonly args: string[];
  readonly heredocs: Heredoc[];
}

/**
 * The documents of the instruction at `start`, read as BuildKit reads them: the logical first
 * line holds the command (or the sources and destination) and the `<<NAME` words; each document
 * then takes the lines up to a line that is just NAME (for `<<-NAME`, leading tabs are removed
 * first, from the text too), one document after another. Undefined when it has none.
 */
function heredocsAt(lines: readonly string[], start: number, escape: string, file: string): (HeredocInstruction & { next: number }) | undefined {
  const { text: first, next } = logicalLine(lines, start, escape);
  const words = shellWords(first).slice(1).filter((w) => !w.startsWith('--'));
  const starts = words.map(heredocWord);
  if (!starts.some(Boolean)) return undefined;
  const heredocs: Heredoc[] = [];
  let at = next;
  for (const [index, word] of starts.entries()) {
    if (!word) continue;
    const { fd, strip, name, expand } = word;
    if (fd !== undefined && fd > MAX_HEREDOC_FD) throw badDockerfile(file, start + 1, `here-document ${words[index]}: file descriptor ${fd} is above ${MAX_HEREDOC_FD} (a shell reads one digit)`);
    // COPY names the file it makes after the document, and a `#!` RUN mounts it at /dev/pipes/NAME.
    if (name.includes('/') || name.includes('\0') || name === '.' || name === '..') throw badDockerfile(file, start + 1, `here-document ${words[index]}: a delimiter cannot hold "/" or be "." or ".."`);
    const body: string[] = [];
    for (;;) {
      if (at >= lines.length) throw badDockerfile(file, start + 1, `here-document <<${name} has no closing ${name} line`);
      const text = strip ? lines[at]!.replace(/^\t+/, '') : lines[at]!;
      at++;
      if (text === name) break;
      body.push(text);
    }
    heredocs.push({ name, content: body.length ? `${body.join('\n')}\n` : '', expand, ...(fd !== undefined ? { fd } : {}) });
  }
  return { first, args: words.map((w, i) => (starts[i] ? `<<${starts[i]!.name}` : w)), heredocs, next: at };
}

/** The `# escape=` parser directive's character, read among the comments that open the file; backslash without one. */
function escapeDirective(lines: readonly string[]): string {
  for (const line of lines) {
    const directive = /^#\s*(\w+)\s*=\s*(\S+)\s*$/.exec(line);
    if (!directive) break;
    if (directive[1]!.toLowerCase() === 'escape') return directive[2] === '`' ? '`' : '\\';
  }
  return '\\';
}

/**
 * Every RUN/COPY/ADD with here-documents, by the index of its first line, and the text for
 * dockerfile-ast with their documents blanked out (lines kept, so its line numbers stay ours).
 * Here-documents are read here and not by dockerfile-ast: it knows neither `3<<EOF` nor quotes
 * inside a delimiter (`E"O"F`), and a `<<-` makes every closing line of its instruction
 * tab-indented; each of those would read the documents' lines as instructions, or swallow the rest
 * of the file as a document.
 */
function readHeredocs(lines: readonly string[], escape: string, file: string): { forParser: string[]; found: Map<number, HeredocInstruction>; blanked: boolean } {
  const forParser = [...lines];
  const found = new Map<number, HeredocInstruction>();
  let blanked = false;
  let at = 0;
  while (at < lines.length) {
    const line = lines[at]!;
    const here = /^\s*(?:RUN|COPY|ADD)(?:\s|$)/i.test(line) ? heredocsAt(lines, at, escape, file) : undefined;
    if (here) {
      found.set(at, here);
      // The words that open the documents are hidden from the parser too; their lines stay its instruction.
      const end = logicalLine(lines, at, escape).next;
      for (let i = at; i < end; i++) forParser[i] = lines[i]!.replace(/(^|\s)\d*<<(?=[^<\s])/g, (all) => all.replace(/\d*<</, (open) => '_'.repeat(open.length)));
      for (let i = end; i < here.next; i++) forParser[i] = '';
      at = here.next;
      continue;
    }
    if (/^\s*#/.test(line) || line.trim() === '') {
      at++;
      continue;
    }
    // The lines an instruction continues on are not instructions of their own. A comment among
    // them is not part of it either (BuildKit drops it): dockerfile-ast kept its text and a line
    // feed, which reached the shell and the history. Blanked, the line still counts.
    const end = logicalLine(lines, at, escape).next;
    for (let i = at + 1; i < end; i++) {
      if (!/^\s*#/.test(lines[i]!)) continue;
      forParser[i] = '';
      blanked = true;
    }
    at = end;
  }
  return { forParser, found, blanked };
}

/**
 * An ENV or LABEL line's words, split as BuildKit splits them (parser/line_parsers.go, parseWords):
 * blanks outside quotes end a word; outside quotes the escape character keeps itself and the next
 * character in the word (a quote after it starts nothing); inside double quotes it does the same;
 * inside single quotes it is an ordinary character (`'C:\'` ends there). Quotes stay in the word:
 * processWord removes them and decides what expands.
 */
function splitWords(text: string, escape: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote = '';
  let started = false;
  for (let at = 0; at < text.length; at++) {
    const ch = text[at]!;
    if (quote === '') {
      if (/\s/.test(ch)) {
        if (started) words.push(word);
        word = '';
        started = false;
        continue;
      }
      started = true;
      if (ch === "'" || ch === '"') quote = ch;
      else if (ch === escape) {
        if (at + 1 === text.length) continue; // a lone escape at the end is dropped
        word += ch;
        at++;
        word += text[at]!;
        continue;
      }
      word += ch;
      continue;
    }
    if (ch === quote) quote = '';
    else if (ch === escape && quote === '"' && at + 1 < text.length) {
      word += ch;
      at++;
      word += text[at]!;
      continue;
    }
    word += ch;
  }
  if (started) words.push(word);
  return words;
}

/**
 * ENV and LABEL pairs, names and values as written: `NAME=VALUE …`, or BuildKit's older form
 * `NAME VALUE…` (a first word without "=": the rest of the line is the value). A word without
 * "=" among pairs has no value (refused by checkInstruction).
 */
function nameValuePairs(text: string, escape: string): [string, string | undefined][] {
  const words = splitWords(text, escape);
  if (words.length === 0) return [];
  if (!words[0]!.includes('=')) {
    const [name, rest] = text.split(/\s+(.*)/s);
    return [[name!, rest === undefined || rest.trim() === '' ? undefined : rest.trim()]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    return eq < 0 ? [w, undefined] : [w.slice(0, eq), w.slice(eq + 1)];
  });
}

function toInstruction(node: AstInstruction, file: string, heredocs: ReadonlyMap<number, HeredocInstruction>, lines: readonly string[], escape: string): Instruction {
  const keyword = node.getKeyword().toUpperCase();
  const line = node.getRange().start.line + 1;
  if (!KNOWN.has(keyword)) throw badDockerfile(file, line, `unknown instruction ${JSON.stringify(node.getKeyword())}`);
  const withFlags = node as AstInstruction & { getFlags?: () => { getName(): string; getValue(): string | null }[] };
  const flags = new Map<string, string[]>();
  for (const flag of withFlags.getFlags?.() ?? []) {
    const values = flags.get(flag.getName()) ?? [];
    values.push(flag.getValue() ?? '');
    flags.set(flag.getName(), values);
  }
  const withProperties = node as AstInstruction & { getProperties?: () => { getName(): string; getValue(): string | null; getValueRange(): { start: Position; end: Position } | null }[] };
  const text = (node.getArgumentsContent() ?? '').trim();
  // Values as written: quotes and escapes decide what expands (processWord), which the parser's unquoted value no longer says.
  const properties =
    keyword === 'ENV' || keyword === 'LABEL'
      ? nameValuePairs(text, escape)
      : (withProperties.getProperties?.() ?? []).map((p) => {
          const range = p.getValueRange();
          return [p.getName(), p.getValue() === null || range === null ? undefined : textIn(lines, range.start, range.end, escape)] as const;
        });
  const args = node.getArguments().map((a) => a.getValue());
  const json = execForm(text);
  const here = heredocs.get(line - 1);
  if (here && (keyword === 'COPY' || keyword === 'ADD')) {
    // Without its flags, as every other instruction's text (the title showed `--chmod=755` twice).
    return { keyword, line, text: here.first.trim().replace(/^\S+\s*/, '').replace(FLAGS, ''), args: here.args, flags, properties, heredocs: here.heredocs };
  }
  if (here && keyword === 'RUN') {
    // The command is the logical first line without the keyword and flags, as BuildKit hands it to the shell.
    return { keyword, line, text: here.first.trim().replace(/^\S+\s*/, '').replace(FLAGS, ''), args: here.args, flags, properties, heredocs: here.heredocs };
  }
  // The parser has already taken --flags out of the arguments and their text.
  return { keyword, line, text, args, flags, properties, ...(json ? { json } : {}) };
}

/** The flags each instruction takes (BuildKit's); RUN's are checked with their values (run-flags.ts). */
const INSTRUCTION_FLAGS: Readonly<Record<string, readonly string[]>> = {
  FROM: ['platform'],
  COPY: ['from', 'chown', 'chmod', 'link', 'parents', 'exclude'],
  ADD: ['chown', 'chmod', 'link', 'checksum', 'keep-git-dir', 'exclude'],
  HEALTHCHECK: ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
};

/** Instructions that are nothing without an argument (BuildKit: "ENV requires at least one argument"). */
const NEEDS_ARGUMENT = new Set(['FROM', 'ARG', 'ENV', 'LABEL', 'WORKDIR', 'USER', 'EXPOSE', 'VOLUME', 'STOPSIGNAL', 'ONBUILD', 'HEALTHCHECK', 'MAINTAINER', 'COPY', 'ADD', 'SHELL']);

/**
 * What BuildKit refuses while parsing, refused here too with the line, rather than built into an
 * image nobody asked for: a flag the instruction does not take, a missing argument, `ENV`/`LABEL`
 * keys without a value, a trigger ONBUILD cannot hold, arguments after `HEALTHCHECK NONE`.
 */
function checkInstruction(i: Instruction, file: string): void {
  const allowed = INSTRUCTION_FLAGS[i.keyword] ?? [];
  for (const name of i.keyword === 'RUN' ? [] : i.flags.keys()) {
    if (!allowed.includes(name)) throw badDockerfile(file, i.line, `${i.keyword} --${name}: ${i.keyword} takes ${allowed.length > 0 ? allowed.map((f) => `--${f}`).join(', ') : 'no flags'}`);
  }
  if (NEEDS_ARGUMENT.has(i.keyword) && i.text === '' && !i.heredocs?.length) throw badDockerfile(file, i.line, `${i.keyword} needs an argument`);
  if (i.keyword === 'ENV' || i.keyword === 'LABEL') {
    const bare = i.properties.find(([, value]) => value === undefined);
    if (bare) throw badDockerfile(file, i.line, `${i.keyword} ${bare[0]}: a key needs a value (${bare[0]}=VALUE, or ${bare[0]} VALUE)`);
  }
  if (i.keyword === 'ONBUILD') {
    const trigger = /^\S+/.exec(i.text)?.[0].toUpperCase();
    if (trigger === 'ONBUILD' || trigger === 'FROM' || trigger === 'MAINTAINER') throw badDockerfile(file, i.line, `ONBUILD ${trigger}: ${trigger} is not allowed as an ONBUILD trigger`);
  }
  if (i.keyword === 'HEALTHCHECK' && i.args[0]?.toUpperCase() === 'NONE' && i.args.length > 1) throw badDockerfile(file, i.line, 'HEALTHCHECK NONE takes no arguments');
  if (i.keyword === 'FROM') checkFrom(i, file);
}

/** BuildKit's stage names: a lower-case letter first, then letters, digits, "-", "_" and "." (any case is read as lower). */
const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

/** `FROM IMAGE` or `FROM IMAGE AS NAME`, as BuildKit reads it (anything else is refused there too). */
function checkFrom(i: Instruction, file: string): void {
  const [, as, name] = i.args;
  if (i.args.length === 3 && as!.toUpperCase() === 'AS') {
    if (!STAGE_NAME.test(name!.toLowerCase())) throw badDockerfile(file, i.line, `FROM … AS ${name}: invalid name for build stage, a name starts with a letter and holds only letters, digits, "-", "_" and "."`);
  } else if (i.args.length !== 1) {
    throw badDockerfile(file, i.line, 'FROM takes an image and, optionally, AS and a stage name (FROM IMAGE [AS NAME])');
  }
}

/** Two stages of one name: BuildKit refuses it (DuplicateStageName), as nothing could tell which one a reference means. */
function checkStageNamesUnique(instructions: readonly Instruction[], file: string): void {
  const lines = new Map<string, number>();
  for (const i of instructions) {
    if (i.keyword !== 'FROM' || i.args.length !== 3) continue;
    const name = i.args[2]!.toLowerCase();
    const earlier = lines.get(name);
    if (earlier !== undefined) throw badDockerfile(file, i.line, `duplicate stage name ${JSON.stringify(name)} (line ${earlier} names a stage so too): stage names must be unique`);
    lines.set(name, i.line);
  }
}

export function parseDockerfile(text: string, file = 'Dockerfile'): ParsedDockerfile {
  const lines = text.split(/\r?\n/);
  const { forParser, found, blanked } = readHeredocs(lines, escapeDirective(lines), file);
  // Text without here-documents or continued comments is parsed as given (its own line endings).
  const tree = dockerfileAst().DockerfileParser.parse(found.size === 0 && !blanked ? text : forParser.join('\n'));
  const instructions = tree.getInstructions().map((node) => toInstruction(node, file, found, forParser, tree.getEscapeCharacter()));
  for (const i of instructions) checkInstruction(i, file);
  checkStageNamesUnique(instructions, file);
  if (!instructions.some((i) => i.keyword === 'FROM')) throw badDockerfile(file, 1, 'no FROM instruction');
  const first = instructions.find((i) => i.keyword !== 'ARG');
  if (first && first.keyword !== 'FROM') throw badDockerfile(file, first.line, `${first.keyword} before the first FROM`);
  return { file, escape: tree.getEscapeCharacter(), instructions };
}
