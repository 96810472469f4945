// `polyarch completion SHELL`: each script is loaded into the real shell and asked what it
// completes, for sub-commands, nested sub-commands, aliases, options, option values with a fixed
// list, skipped option values, and file names where nothing else fits.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);

let dir: { path: string; remove: () => Promise<void> };
const scripts: Record<string, string> = {};

before(async () => {
  dir = await tempDir('polyarch-completion-');
  await writeFile(join(dir.path, 'Dockerfile.arm'), 'FROM scratch\n');
  for (const shell of ['bash', 'zsh', 'fish']) {
    const result = await runCli(['completion', shell]);
    assert.equal(result.code, 0, result.stderr);
    scripts[shell] = join(dir.path, `polyarch.${shell}`);
    await writeFile(scripts[shell], result.stdout);
  }
});
after(async () => {
  await dir?.remove();
});

/** What each shell offers for a command line (the last word is the one being completed). */
type Complete = (words: readonly string[]) => Promise<string[]>;

/** The table every shell must satisfy: words typed → what must be offered, and what must not. */
const CASES: { words: string[]; offers: string[]; not?: string[]; exactly?: boolean }[] = [
  { words: ['polyarch', 'man'], offers: ['manifest'], exactly: true },
  { words: ['polyarch', ''], offers: ['copy', 'cp', 'build', 'config', 'completion', 'manifest'] },
  { words: ['polyarch', 'manifest', 'c'], offers: ['create'], exactly: true },
  { words: ['polyarch', 'config', ''], offers: ['show'], exactly: true },
  { words: ['polyarch', 'cp', '--pl'], offers: ['--platform'], exactly: true },
  { words: ['polyarch', 'build', '--progress', ''], offers: ['auto', 'plain', 'quiet', 'tty'], exactly: true },
  { words: ['polyarch', 'completion', ''], offers: ['bash', 'fish', 'zsh'], exactly: true },
  // A global option's value is skipped when finding the command: `x` is not a command name.
  { words: ['polyarch', '--ca-file', 'x', 'manifest', ''], offers: ['annotate', 'create', 'inspect', 'push', 'rm'], exactly: true },
  { words: ['polyarch', '--ins'], offers: ['--insecure'], exactly: true },
  { words: ['polyarch', 'manifest', 'push', '--'], offers: ['--purge', '--insecure', '--help'], not: ['--platform'] },
  // Where a file is wanted, files of the directory are offered.
  { words: ['polyarch', 'build', '-f', 'Dockerf'], offers: ['Dockerfile.arm'] },
];

async function runTable(complete: Complete): Promise<void> {
  for (const { words, offers, not, exactly } of CASES) {
    const got = await complete(words);
    const sorted = [...got].sort();
    if (exactly) assert.deepEqual(sorted, [...offers].sort(), `${words.join(' ')} → ${got.join(' ')}`);
    else for (const want of offers) assert.ok(got.includes(want), `${words.join(' ')} offers ${want}: ${got.join(' ')}`);
    for (const unwanted of not ?? []) assert.ok(!got.includes(unwanted), `${words.join(' ')} does not offer ${unwanted}`);
  }
}

/** The shell's path; never skipped: a missing shell fails, naming the package (.ci/run installs it). */
function installedShell(name: string): string {
  const path = [`/usr/bin/${name}`, `/bin/${name}`].find((p) => existsSync(p));
  if (path === undefined) assert.fail(`${name} is not installed: apt-get install ${name}`);
  return path;
}

/** A shell word quoted for the single-quoted strings of bash, zsh and fish alike (tests use no quotes). */
function sq(word: string): string {
  assert.doesNotMatch(word, /['\\]/);
  return `'${word}'`;
}

describe('completion scripts in their shells', () => {
  test('bash: complete -p names the function, which fills COMPREPLY', async () => {
    const complete: Complete = async (words) => {
      const program = `source ${sq(scripts.bash!)}
COMP_WORDS=(${words.map(sq).join(' ')})
COMP_CWORD=${words.length - 1}
_polyarch
printf '%s\\n' "\${COMPREPLY[@]}"`;
      const { stdout } = await exec('bash', ['--norc', '--noprofile', '-c', program], { cwd: dir.path });
      return stdout.split('\n').filter((l) => l !== '');
    };
    const { stdout } = await exec('bash', ['--norc', '--noprofile', '-c', `source ${sq(scripts.bash!)}; complete -p polyarch`]);
    assert.match(stdout, /complete .*-F _polyarch polyarch/);
    await runTable(complete);
  });

  test('zsh: the script loads under compinit and registers itself; its candidates function answers', async () => {
    const zsh = installedShell('zsh');
    const loaded = await exec(zsh, ['-f', '-c', `autoload -U compinit && compinit -u -D; source ${sq(scripts.zsh!)}; print -r -- $_comps[polyarch]`]);
    assert.equal(loaded.stdout.trim(), '_polyarch');
    const complete: Complete = async (words) => {
      const program = `source ${sq(scripts.zsh!)}
_polyarch_candidates ${words.map(sq).join(' ')}
if [[ $REPLY == files ]]; then print -rl -- ${sq(words.at(-1) ?? '')}*(N); else print -rl -- $reply; fi`;
      const { stdout } = await exec(zsh, ['-f', '-c', program], { cwd: dir.path });
      return stdout.split('\n').filter((l) => l !== '');
    };
    await runTable(complete);
  });

  test('fish: complete -C answers from the loaded script', async () => {
    const fish = installedShell('fish');
    const complete: Complete = async (words) => {
      const { stdout } = await exec(fish, ['--no-config', '-c', `source ${sq(scripts.fish!)}; complete -C ${sq(words.join(' '))}`], { cwd: dir.path });
      return stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t')[0] ?? '');
    };
    await runTable(complete);
  });

  test('an unknown shell is refused in one line', async () => {
    const result = await runCli(['completion', 'tcsh']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^polyarch: completion: unknown shell "tcsh", expected bash, zsh, fish \[USAGE\]\n/);
  });
});
