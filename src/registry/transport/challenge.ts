// WWW-Authenticate per RFC 7235 §4.1: several challenges in one header, each a scheme followed
// by a token68 or by auth-params whose quoted values may hold commas and escaped quotes.

export interface Challenge {
  /** Lower-cased scheme: 'bearer', 'basic', … */
  readonly scheme: string;
  /** Parameters with lower-cased names. */
  readonly params: Readonly<Record<string, string>>;
  readonly token68?: string;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

export function parseWwwAuthenticate(header: string | undefined): Challenge[] {
  const challenges: Challenge[] = [];
  if (header === undefined) return challenges;
  const text = header;
  let i = 0;
  const skipSpace = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const skipSeparators = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === ',')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < text.length && TOKEN.test(text[i] as string)) i++;
    return text.slice(start, i);
  };
  const readQuoted = (): string => {
    let out = '';
    i++; // opening quote
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\' && i + 1 < text.length) i++;
      out += text[i];
      i++;
    }
    i++; // closing quote (or end)
    return out;
  };

  while (i < text.length) {
    skipSeparators();
    const scheme = readToken();
    if (scheme === '') {
      i++; // not a token character: skip it rather than loop forever
      continue;
    }
    const params: Record<string, string> = {};
    let token68: string | undefined;
    skipSpace();
    // token68: a lone value such as `Basic dXNlcg==`, ending the challenge.
    const rest = text.slice(i);
    const t68 = TOKEN68.exec(rest);
    if (t68 && /^[ \t]*(,|$)/.test(rest.slice(t68[0].length)) && !/^[^=]+=[^=]/.test(t68[0])) {
      token68 = t68[0];
      i += t68[0].length;
    } else {
      for (;;) {
        skipSeparators();
        const start = i;
        const name = readToken();
        if (name === '') break;
        skipSpace();
        if (text[i] !== '=') {
          i = start; // a token without "=": the next challenge's scheme
          break;
        }
        i++;
        skipSpace();
        params[name.toLowerCase()] = text[i] === '"' ? readQuoted() : readToken();
      }
    }
    challenges.push({ scheme: scheme.toLowerCase(), params, ...(token68 !== undefined ? { token68 } : {}) });
  }
  return challenges;
}
