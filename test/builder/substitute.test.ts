// Dockerfile variable substitution, row by row as BuildKit's own rules give it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SubstitutionError, processWord, substitute } from '../../src/builder/substitute.js';

const vars = new Map([
  ['A', '/home/tux/book.tar.bz2'],
  ['E', ''],
  ['X', 'x'],
]);

const ROWS: [string, string][] = [
  ['$A', '/home/tux/book.tar.bz2'],
  ['${X}y $X-y', 'xy x-y'],
  ['${U}|$U', '|'],
  ['${E:-d} ${E-d} ${U-d}', 'd  d'],
  ['${E:+a}|${E+a}|${U+a}|${X:+a}', '|a||a'],
  ['${U:-${X}y}', 'xy'],
  ['${X:?unused}', 'x'],
  ['${A#*/}', 'home/tux/book.tar.bz2'],
  ['${A##*/}', 'book.tar.bz2'],
  ['${A#/home/}', 'tux/book.tar.bz2'],
  ['${A%.*}', '/home/tux/book.tar'],
  ['${A%%.*}', '/home/tux/book'],
  ['${A%.[bg]z2}', '/home/tux/book.tar'],
  ['${A/tux/wilber}', '/home/wilber/book.tar.bz2'],
  ['${A//o/0}', '/h0me/tux/b00k.tar.bz2'],
  ['${A/#nothing/z}', '/home/tux/book.tar.bz2'],
  ['\\$X and \\${X}', '$X and ${X}'],
  ['cost: 5$ $1', 'cost: 5$ $1'],
];

test('substitution rows', () => {
  for (const [text, want] of ROWS) assert.equal(substitute(text, vars), want, text);
});

test('the escape directive changes what escapes a dollar', () => {
  assert.equal(substitute('`$X \\$X', vars, '`'), '$X \\x');
});

test('${VAR:?message} and an unclosed ${ are errors', () => {
  assert.throws(() => substitute('${U:?must be set}', vars), (e: unknown) => e instanceof SubstitutionError && e.message === 'U: must be set');
  assert.throws(() => substitute('${E:?}', vars), /E: is not set or empty/);
  assert.equal(substitute('${E?}', vars), '');
  assert.throws(() => substitute('${X', vars), /missing '}'/);
  assert.throws(() => substitute('${1abc}', vars), /bad substitution/);
});

test('ENV, ARG and LABEL values are read as BuildKit\'s lexer reads them: quotes and escapes decide what expands', () => {
  const rows: [string, string][] = [
    ["'$X'", '$X'],
    ['\\$X', '$X'],
    ['"$X \\$X \\" \\a"', 'x $X " \\a'],
    ["'single $X' then $X", 'single $X then x'],
    ['a\\ b', 'a b'],
    ['"${U:-d}"\'${U:-d}\'', 'd${U:-d}'],
    ['end\\', 'end\\'],
    // A modifier's word is read the same way (BuildKit's processDollar).
    ['${U:-"a b"}|${U:-\'$X\'}|${X:+"q r"}|${X/x/"z"}|${X#"x"}', 'a b|$X|q r|z|'],
  ];
  for (const [text, want] of rows) assert.equal(processWord(text, vars), want, text);
  assert.equal(processWord("`$X '`'", vars, '`'), "$X `");
  assert.throws(() => processWord("'open", vars), (e: unknown) => e instanceof SubstitutionError && /single quote/.test(e.message));
  assert.throws(() => processWord('"open', vars), /double quote/);
});
