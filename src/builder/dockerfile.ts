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
  /** KEY=VALUE pairs of ARG, ENV and LABEL (quotes removed). */
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
}

export interface ParsedDockerfile {
  readonly file: string;
  /** The escape character (`# escape=` directive; default backslash). */
  readonly escape: string;
  readonly instructions: readonly Instruction[];
}

const KNOWN = new Set(['FROM', 'ARG', 'ENV', 'LABEL', 'WORKDIR', 'USER', 'EXPOSE', 'VOLUME', 'CMD', 'ENTRYPOINT', 'SHELL', 'STOPSIGNAL', 'HEALTHCHECK', 'ONBUILD', 'COPY', 'ADD', 'RUN', 'MAINTAINER']);

function unquote(value: string): string {
  if (value.length >= 2 && ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'")))) {
    return value.slice(1, -1).replace(/\\(["\\$])/g, '$1');
  }
  return value;
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

const HEREDOC = /^<<(-?)(["']?)([A-Za-z0-9_.-]+)\2$/;
/** Leading `--flag` / `--flag=value` words (a value may be quoted). */
const FLAGS = /^(?:--[A-Za-z-]+(?:=(?:"[^"]*"|'[^']*'|\S)*)?\s+)+/;

/**
 * Here-documents of a COPY/ADD, read from the instruction's own lines as BuildKit reads them:
 * the first line holds the flags, sources and destination; each `<<NAME` then takes the lines up
 * to a line that is just NAME (leading tabs removed for `<<-NAME`).
 */
function heredocsOf(lines: readonly string[], file: string, line: number): { args: string[]; heredocs: Heredoc[] } | undefined {
  const words = (lines[0] ?? '').trim().split(/\s+/).slice(1).filter((w) => !w.startsWith('--'));
  const starts = words.map((w) => HEREDOC.exec(w));
  if (!starts.some(Boolean)) return undefined;
  const heredocs: Heredoc[] = [];
  let at = 1;
  for (const start of starts) {
    if (!start) continue;
    const [, strip, quote, name] = start as unknown as [string, string, string, string];
    const body: string[] = [];
    for (;;) {
      if (at >= lines.length) throw badDockerfile(file, line, `here-document <<${name} has no closing ${name} line`);
      const text = strip ? lines[at]!.replace(/^\t+/, '') : lines[at]!;
      at++;
      if (text === name) break;
      body.push(text);
    }
    heredocs.push({ name, content: body.length ? `${body.join('\n')}\n` : '', expand: quote === '' });
  }
  return { args: words.map((w, i) => (starts[i] ? `<<${starts[i]![3]}` : w)), heredocs };
}

function toInstruction(node: AstInstruction, file: string, source: readonly string[]): Instruction {
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
  const withProperties = node as AstInstruction & { getProperties?: () => { getName(): string; getValue(): string | null }[] };
  const properties = (withProperties.getProperties?.() ?? []).map((p) => [p.getName(), p.getValue() === null ? undefined : unquote(p.getValue() as string)] as const);
  const args = node.getArguments().map((a) => a.getValue());
  const text = (node.getArgumentsContent() ?? '').trim();
  const json = execForm(text);
  if (keyword === 'COPY' || keyword === 'ADD') {
    const range = node.getRange();
    const here = heredocsOf(source.slice(range.start.line, range.end.line + 1), file, line);
    if (here) return { keyword, line, text: (source[range.start.line] ?? '').trim().replace(/^\S+\s*/, ''), args: here.args, flags, properties, heredocs: here.heredocs };
  }
  if (keyword === 'RUN' && !json) {
    const range = node.getRange();
    const here = heredocsOf(source.slice(range.start.line, range.end.line + 1), file, line);
    // The command is the first line without the keyword and flags, as BuildKit hands it to the shell.
    const command = (source[range.start.line] ?? '').trim().replace(/^\S+\s*/, '').replace(FLAGS, '');
    if (here) return { keyword, line, text: command, args: here.args, flags, properties, heredocs: here.heredocs };
  }
  // The parser has already taken --flags out of the arguments and their text.
  return { keyword, line, text, args, flags, properties, ...(json ? { json } : {}) };
}

export function parseDockerfile(text: string, file = 'Dockerfile'): ParsedDockerfile {
  const tree = dockerfileAst().DockerfileParser.parse(text);
  const lines = text.split(/\r?\n/);
  const instructions = tree.getInstructions().map((node) => toInstruction(node, file, lines));
  if (!instructions.some((i) => i.keyword === 'FROM')) throw badDockerfile(file, 1, 'no FROM instruction');
  const first = instructions.find((i) => i.keyword !== 'ARG');
  if (first && first.keyword !== 'FROM') throw badDockerfile(file, first.line, `${first.keyword} before the first FROM`);
  return { file, escape: tree.getEscapeCharacter(), instructions };
}
