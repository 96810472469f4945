// Everything the CLI prints goes through here. Text that came from a manifest, a config, an
// annotation, a tag or a registry answer may hold terminal escapes (ESC [2J, OSC 52 clipboard
// writes, a CR that overwrites the line) or bidi overrides that make text read differently than
// it is; all of them are shown escaped (`\x1b`, `\u202e`) and never reach the terminal raw.

/** C0 controls, DEL, C1 controls, and the Unicode format characters that reorder text or break lines. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** The same, except the line feeds our own output is made of. */
const UNSAFE_EXCEPT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** One value shown on one line: every control and bidi character escaped, line breaks included. */
export function escapeControl(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/** Where the CLI writes: strings are text for a terminal, Buffers are bytes passed on as they are (`--raw`). */
export interface OutputStream {
  write(chunk: string | Uint8Array): boolean;
}

/**
 * The one gate between commands and a terminal: every string written is escaped except for its
 * line feeds, whichever command wrote it. Bytes (`inspect --raw`) pass unchanged: exact bytes
 * were asked for.
 */
export function terminalSafe(stream: OutputStream): OutputStream {
  return {
    write: (chunk) => stream.write(typeof chunk === 'string' ? chunk.replace(UNSAFE_EXCEPT_NEWLINE, escapeChar) : chunk),
  };
}

/** Prints rows as aligned columns under a header; a cell never breaks its row. */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[], out: OutputStream = process.stdout): void {
  const safeRows = rows.map((r) => r.map(escapeControl));
  const widths = headers.map((h, i) => Math.max(h.length, ...safeRows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  out.write(`${line(headers)}\n`);
  for (const row of safeRows) out.write(`${line(row)}\n`);
}

/**
 * A template tag for one printed line: interpolated values are escaped (so a value holding a line
 * feed cannot forge the next line), and the line feed is added. `line\`Name: ${name}\``.
 */
export function line(strings: TemplateStringsArray, ...values: readonly unknown[]): string {
  return `${strings.reduce((text, part, i) => text + part + (i < values.length ? escapeControl(String(values[i])) : ''), '')}\n`;
}

/** Values one per line (tags, repository names); each escaped, so one value is always one line. */
export function printLines(values: readonly string[], out: OutputStream = process.stdout): void {
  for (const value of values) out.write(`${escapeControl(value)}\n`);
}

/** `notice: …` on stderr; notices quote names and platforms read from images. */
export function printNotice(message: string, out: OutputStream): void {
  out.write(`notice: ${escapeControl(message)}\n`);
}

/** printNotice as a handler for the library's notices, silent with -q (`--platform x86_64` is linux/amd64). */
export function noticesTo(out: OutputStream, quiet: boolean | undefined): (message: string) => void {
  return (message) => {
    if (!quiet) printNotice(message, out);
  };
}

/**
 * JSON as it is, but with DEL, C1 and bidi characters written as `\u` escapes: JSON.stringify
 * escapes only C0, and the rest would otherwise reach the terminal raw. The JSON means the same.
 */
export function printJson(value: unknown, out: OutputStream = process.stdout): void {
  const text = JSON.stringify(value, (_key, v: unknown) => (Buffer.isBuffer(v) ? undefined : v), 2);
  out.write(`${(text ?? 'null').replace(UNSAFE_EXCEPT_NEWLINE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`);
}

/** `12.3 MB` style sizes, decimal as registries and docker show them. */
export function formatSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}
