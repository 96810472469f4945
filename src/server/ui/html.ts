// HTML built on the server from hostile values. Every interpolated value goes through `html`,
// which escapes it unless it is markup this module made itself (an Html), so a stored string can
// never become markup, an attribute break-out or an event handler.

/** Markup known to be safe: made only by `html` and `raw` (raw is for constants in this folder). */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

export type HtmlValue = Html | string | number | undefined | null | false | readonly HtmlValue[];

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

// Controls, zero-width and bidirectional formatting characters: a tag or label holding them could
// reorder or hide what a person reads (a "Trojan Source" name), so they are shown as their code.
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;

/** Text as it is safe to show: invisible characters spelled out as ⟨U+XXXX⟩, then escaped. */
export function escapeHtml(value: string): string {
  return value
    .replace(INVISIBLE, (c) => `⟨U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}⟩`)
    .replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function render(value: HtmlValue): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

/** A template whose interpolations are escaped (attribute values must be quoted with "). */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + (strings[i + 1] ?? '');
  return new Html(out);
}

/** Markup from a constant of this folder, never from data. */
export function raw(text: string): Html {
  return new Html(text);
}

/** At most `max` characters, with a visible note of how much was left out. */
export function clip(value: string, max: number): string {
  return value.length <= max ? value : `${value.slice(0, max)}… (${value.length - max} more characters not shown)`;
}
