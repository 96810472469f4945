// Variable substitution as BuildKit does it in Dockerfiles: $VAR and ${VAR}; ${VAR:-word},
// ${VAR-word}, ${VAR:+word}, ${VAR+word}, ${VAR:?message}, ${VAR?message}; and (Dockerfile 1.7)
// ${VAR#pattern} ${VAR##pattern} ${VAR%pattern} ${VAR%%pattern} ${VAR/pattern/text}
// ${VAR//pattern/text} with shell patterns (* ? [...]); words may hold further substitutions,
// and the escape character before `$` gives a literal dollar.
import { patternSource } from './glob.js';

/** A `${VAR:?message}` whose variable is unset (or empty), or a `${…}` that never closes. */
export class SubstitutionError extends Error {}

/** `#`/`##` remove the shortest/longest matching prefix, `%`/`%%` the shortest/longest suffix. */
function trim(value: string, pattern: string, op: string): string {
  const whole = new RegExp(`^${patternSource(pattern, { crossSlash: true })}$`);
  const cuts = Array.from({ length: value.length + 1 }, (_, i) => i);
  if (op === '#' || op === '##') {
    for (const i of op === '#' ? cuts : cuts.reverse()) if (whole.test(value.slice(0, i))) return value.slice(i);
  } else {
    for (const i of op === '%' ? cuts.reverse() : cuts) if (whole.test(value.slice(i))) return value.slice(0, i);
  }
  return value;
}

/** The index of the `}` that closes a `${` whose body starts at `from`, nested `${…}` skipped. */
function closingBrace(text: string, from: number, escape: string): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    if (text[i] === escape) i++;
    else if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (text[i] === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

/** How a modifier's word (`${V:-word}`) is read: as the text around it is (processWord reads quotes there too, as BuildKit does). */
type WordReader = (text: string, vars: ReadonlyMap<string, string>, escape: string) => string;

function expand(body: string, vars: ReadonlyMap<string, string>, escape: string, read: WordReader): string {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?]|##?|%%?|\/\/?)([\s\S]*))?$/.exec(body);
  if (!match) throw new SubstitutionError(`bad substitution \${${body}}`);
  const [, name = '', op, rawWord = ''] = match;
  const value = vars.get(name);
  const set = value !== undefined;
  const nonEmpty = set && value !== '';
  const word = () => read(rawWord, vars, escape);
  switch (op) {
    case undefined:
      return value ?? '';
    case ':-':
      return nonEmpty ? value : word();
    case '-':
      return set ? value : word();
    case ':+':
      return nonEmpty ? word() : '';
    case '+':
      return set ? word() : '';
    case ':?':
    case '?':
      if (op === ':?' ? nonEmpty : set) return value!;
      throw new SubstitutionError(`${name}: ${word() || (op === ':?' ? 'is not set or empty' : 'is not set')}`);
    case '#':
    case '##':
    case '%':
    case '%%':
      return trim(value ?? '', word(), op);
    default: {
      // `/pattern/text` replaces the first (longest) match, `//pattern/text` every one.
      const slash = rawWord.search(/(?<!\\)\//);
      const pattern = read(slash < 0 ? rawWord : rawWord.slice(0, slash), vars, escape);
      const text = slash < 0 ? '' : read(rawWord.slice(slash + 1), vars, escape);
      if (pattern === '') return value ?? '';
      return (value ?? '').replace(new RegExp(patternSource(pattern, { crossSlash: true }), op === '//' ? 'g' : ''), () => text);
    }
  }
}

export function substitute(text: string, vars: ReadonlyMap<string, string>, escape = '\\'): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === escape && text[i + 1] === '$') {
      out += '$';
      i++;
      continue;
    }
    if (c !== '$') {
      out += c;
      continue;
    }
    const [value, last] = dollar(text, i, vars, escape, substitute);
    out += value;
    i = last;
  }
  return out;
}

/** The `$…` at `text[at]` expanded, and the index of its last character. */
function dollar(text: string, at: number, vars: ReadonlyMap<string, string>, escape: string, read: WordReader): [string, number] {
  if (text[at + 1] === '{') {
    const close = closingBrace(text, at + 2, escape);
    if (close < 0) throw new SubstitutionError(`missing '}' in ${JSON.stringify(text.slice(at))}`);
    return [expand(text.slice(at + 2, close), vars, escape, read), close];
  }
  const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(at + 1))?.[0];
  if (!name) return ['$', at];
  return [vars.get(name) ?? '', at + name.length];
}

/**
 * A value of ENV, ARG or LABEL as BuildKit's shell lexer reads it, quotes and escapes removed:
 * `'…'` is literal, `"…"` expands variables (the escape character there keeps a following `"`,
 * `$` or itself, and is kept before anything else), and outside quotes the escape character
 * keeps the next character as it is (`\$HOME` is the text `$HOME`).
 */
export function processWord(text: string, vars: ReadonlyMap<string, string>, escape = '\\'): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const close = text.indexOf("'", i + 1);
      if (close < 0) throw new SubstitutionError(`no closing single quote in ${JSON.stringify(text)}`);
      out += text.slice(i + 1, close);
      i = close;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        const d = text[j]!;
        if (d === escape && (text[j + 1] === '"' || text[j + 1] === '$' || text[j + 1] === escape)) {
          out += text[++j];
        } else if (d === '$') {
          const [value, last] = dollar(text, j, vars, escape, processWord);
          out += value;
          j = last;
        } else out += d;
      }
      if (j >= text.length) throw new SubstitutionError(`no closing double quote in ${JSON.stringify(text)}`);
      i = j;
    } else if (c === escape && i + 1 < text.length) {
      out += text[++i];
    } else if (c === '$') {
      const [value, last] = dollar(text, i, vars, escape, processWord);
      out += value;
      i = last;
    } else out += c;
  }
  return out;
}
