// Shell-style patterns (`*`, `?`, `[a-z]`, `[!a-z]`, `\x`) as regular expressions: COPY sources
// match one path segment at a time (Go's filepath.Match, so `*` stops at `/`); the patterns of
// `${VAR#pattern}` and friends match any character.
export function patternSource(pattern: string, options: { crossSlash: boolean }): string {
  const any = options.crossSlash ? '[\\s\\S]' : '[^/]';
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const close = c === '[' ? pattern.indexOf(']', i + 2) : -1;
    if (c === '*') out += `${any}*`;
    else if (c === '?') out += any;
    else if (close > 0) {
      out += `[${pattern.slice(i + 1, close).replace(/^[!^]/, '^').replace(/\\/g, '\\\\')}]`;
      i = close;
    } else if (c === '\\' && i + 1 < pattern.length) out += escapeRegExp(pattern[++i]!);
    else out += escapeRegExp(c);
  }
  return out;
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Whether the pattern has any special character at all. */
export function isPattern(text: string): boolean {
  return /[*?[]/.test(text);
}
