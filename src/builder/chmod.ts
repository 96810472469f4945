// `COPY --chmod` and `ADD --chmod` values as BuildKit takes them (Dockerfile syntax 1.14 and later):
// an octal mode, set as it is, or a symbolic one as chmod(1) writes it (`+x`, `u=rwx,go=rx`,
// `go-w`, `a+X`, `g=u`), applied to each copied entry's own mode with BSD setmode's rules and no
// umask, as BuildKit's copy applies it. A symbolic `X` adds execute where the entry is a
// directory or was executable for anyone before the change.

/** An entry's new mode (12 bits) from its mode before, and whether it is a directory. */
export type ModeChange = (mode: number, isDirectory: boolean) => number;

/** No `--chmod`: every entry keeps its mode. */
export const KEEP_MODE: ModeChange = (mode) => mode;

const SETID = 0o6000;
const STICKY = 0o1000;
/** What `a` names: set-id bits and every permission bit, not the sticky bit. */
const ALL = 0o6777;
const WHO: Readonly<Record<string, number>> = { a: ALL, u: 0o4700, g: 0o2070, o: 0o0007 };
const PERM: Readonly<Record<string, number>> = { r: 0o444, w: 0o222, x: 0o111 };
/** Where a class's three bits sit. */
const SHIFT: Readonly<Record<string, number>> = { u: 6, g: 3, o: 0 };

/** One step of a symbolic mode, applied in order. */
type Step =
  | { readonly kind: 'set' | 'clear'; readonly bits: number }
  | { readonly kind: 'execute-if'; readonly bits: number }
  | { readonly kind: 'copy'; readonly from: string; readonly op: string; readonly who: number };

/**
 * The change a `--chmod` value makes. Throws an Error naming what is wrong: digits that are no
 * octal mode up to 7777, or a symbolic mode chmod(1) would not take.
 */
export function parseChmod(text: string): ModeChange {
  if (/^[0-9]/.test(text)) {
    if (!/^[0-7]+$/.test(text) || Number.parseInt(text, 8) > 0o7777) throw new Error(`invalid chmod parameter: ${JSON.stringify(text)}. it should be octal string and between 0 and 07777`);
    const mode = Number.parseInt(text, 8);
    return () => mode;
  }
  const steps = symbolicSteps(text);
  return (before, isDirectory) => {
    let mode = before & 0o7777;
    for (const step of steps) {
      if (step.kind === 'set') mode |= step.bits;
      else if (step.kind === 'clear') mode &= ~step.bits;
      else if (step.kind === 'execute-if') {
        // X looks at the mode before any of the change, as setmode's does.
        if (isDirectory || (before & 0o111) !== 0) mode |= step.bits;
      } else if (step.kind === 'copy') mode = copyClass(mode, step);
    }
    return mode;
  };
}

/** `g=u`, `o+g`, `u-o`: one class's current bits put into, added to or taken from the classes `who` names (all three when none). */
function copyClass(mode: number, step: Extract<Step, { kind: 'copy' }>): number {
  const value = (mode >> SHIFT[step.from]!) & 0o7;
  let result = mode;
  for (const shift of Object.values(SHIFT)) {
    // A class is named when `who` has its read bit (`a`, or its own letter).
    if (step.who !== 0 && (step.who & (0o4 << shift)) === 0) continue;
    if (step.op !== '+') result &= ~((step.op === '=' ? 0o7 : value) << shift);
    if (step.op !== '-') result |= value << shift;
  }
  return result;
}

/** The steps of a symbolic mode: clauses `[ugoa]*([-+=]([rwxXst]*|[ugo]))+` joined by commas. */
function symbolicSteps(text: string): Step[] {
  const bad = (): Error => new Error(`invalid chmod parameter: ${JSON.stringify(text)}. it should be octal, or symbolic as chmod(1) takes it (u+x, go-w, a=rX)`);
  if (text === '') throw bad();
  const steps: Step[] = [];
  for (const clause of text.split(',')) {
    let at = 0;
    let who = 0;
    while (at < clause.length && WHO[clause[at]!] !== undefined) who |= WHO[clause[at++]!]!;
    if (at === clause.length) throw bad(); // no operator
    while (at < clause.length) {
      const op = clause[at++]!;
      if (op !== '+' && op !== '-' && op !== '=') throw bad();
      let perm = 0;
      let executeIf = 0;
      let target = who;
      let copied = false;
      while (at < clause.length && !'+-='.includes(clause[at]!)) {
        // A class to copy stands alone after its operator.
        if (copied) throw bad();
        const letter = clause[at++]!;
        if (PERM[letter] !== undefined) perm |= PERM[letter]!;
        else if (letter === 'X') {
          if (op === '-') perm |= 0o111;
          else executeIf |= 0o111;
        } else if (letter === 's') {
          // Set-id bits mean nothing for `o` alone.
          if (who === 0 || (who & ~0o7) !== 0) perm |= SETID;
        } else if (letter === 't') {
          if (who === 0 || (who & ~0o7) !== 0) {
            target |= STICKY;
            perm |= STICKY;
          }
        } else if (SHIFT[letter] !== undefined) {
          if (perm !== 0 || executeIf !== 0) throw bad();
          copied = true;
          steps.push({ kind: 'copy', from: letter, op, who });
        } else throw bad();
      }
      if (copied) continue;
      const reach = (bits: number): number => (target !== 0 ? target & bits : bits);
      // `=` first clears what it names (all but the sticky bit when no one is named), even with no permissions after it.
      if (op === '=') steps.push({ kind: 'clear', bits: target !== 0 ? target : ALL });
      if (perm !== 0) steps.push({ kind: op === '-' ? 'clear' : 'set', bits: reach(perm) });
      if (executeIf !== 0) steps.push({ kind: 'execute-if', bits: reach(executeIf) });
    }
  }
  return steps;
}
