// Variable substitution as BuildKit does it in Dockerfiles: $VAR, ${VAR}, ${VAR:-default},
// ${VAR:+alternative}, ${VAR-default}, ${VAR+alternative}, and \$ for a literal dollar.
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
    if (text[i + 1] === '{') {
      const close = text.indexOf('}', i + 2);
      if (close < 0) {
        out += text.slice(i);
        break;
      }
      const body = text.slice(i + 2, close);
      const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])(.*))?$/s.exec(body);
      i = close;
      if (!match) {
        out += `\${${body}}`;
        continue;
      }
      const [, name = '', op, word = ''] = match;
      const value = vars.get(name);
      const set = value !== undefined;
      const nonEmpty = set && value !== '';
      if (op === ':-') out += nonEmpty ? value : substitute(word, vars, escape);
      else if (op === '-') out += set ? value : substitute(word, vars, escape);
      else if (op === ':+') out += nonEmpty ? substitute(word, vars, escape) : '';
      else if (op === '+') out += set ? substitute(word, vars, escape) : '';
      else out += value ?? '';
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1))?.[0];
    if (!name) {
      out += '$';
      continue;
    }
    out += vars.get(name) ?? '';
    i += name.length;
  }
  return out;
}
