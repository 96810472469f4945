// Enforces DESIGN §4.2: each folder imports only the layers below it, and third-party
// packages stay in the folders that own them.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

/** Which top-level folders each folder may import (besides itself). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  internal: [],
  errors: ['internal'],
  digest: ['internal', 'errors'],
  mediatype: ['internal', 'errors'],
  reference: ['internal', 'errors', 'digest'],
  platform: ['internal', 'errors'],
  progress: ['internal', 'errors', 'digest', 'platform'],
  image: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform'],
  archcheck: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform'],
  layer: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image'],
  verify: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image', 'layer'],
  registry: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image', 'archcheck'],
  store: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image', 'archcheck'],
  endpoint: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image', 'archcheck', 'registry', 'store'],
  ops: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image', 'archcheck', 'endpoint', 'layer', 'verify', 'progress'],
  builder: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image', 'ops', 'store', 'layer', 'progress'],
  server: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'image', 'store'],
  cli: ['index.ts'],
  'index.ts': ['ops', 'builder', 'server', 'endpoint', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image', 'layer', 'verify', 'progress'],
};

/** Third-party packages and the folders that may use them. */
const PACKAGES: Readonly<Record<string, readonly string[]>> = {
  'tar-stream': ['store', 'layer'],
  commander: ['cli'],
  yaml: ['ops'],
  bcryptjs: ['server'],
  'dockerfile-ast': ['builder'],
  'zstd-napi': ['layer'],
  '@balena/dockerignore': ['builder'],
  // registry settings files (buildkitd.toml, polyarch's registries.toml)
  'smol-toml': ['endpoint'],
  'log-update': ['cli'],
};

/** A source file as the checker sees it: its path under src/ (`cli/commands/copy.ts`) and its text. */
interface SourceFile {
  readonly path: string;
  readonly text: string;
}

function sourceFiles(dir: string): SourceFile[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [{ path: relative(SRC, path).split(sep).join('/'), text: readFileSync(path, 'utf8') }] : [];
  });
}

/** The top-level folder of a path under src/, or the file itself for `index.ts`. */
function folderOf(path: string): string {
  const first = path.split('/')[0] ?? path;
  return path.includes('/') ? first : path;
}

function importsOf(text: string): string[] {
  const found: string[] = [];
  const pattern = /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (const match of text.matchAll(pattern)) found.push((match[1] ?? match[2] ?? match[3]) as string);
  return found;
}

/** Every import in `files` that the tables forbid, one message each; empty when all is well. */
function findViolations(files: readonly SourceFile[]): string[] {
  const violations: string[] = [];
  for (const file of files) {
    const where = `src/${file.path}`;
    const from = folderOf(file.path);
    const allowed = ALLOWED[from];
    if (!allowed) {
      violations.push(`${where} is in a folder the dependency table does not know (${from})`);
      continue;
    }
    for (const spec of importsOf(file.text)) {
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        const target = folderOf(posix.normalize(posix.join(posix.dirname(file.path), spec.replace(/\.js$/, '.ts'))));
        if (target !== from && !allowed.includes(target)) violations.push(`${where} imports ${spec} (${from} may import only ${allowed.join(', ') || 'node:*'})`);
        continue;
      }
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string);
      const owners = PACKAGES[pkg];
      if (!owners) violations.push(`${where} imports package ${pkg}, which no folder owns (add it to the table with a reason)`);
      else if (!owners.includes(from)) violations.push(`${where} imports package ${pkg} (only ${owners.join(', ')} may)`);
    }
  }
  return violations;
}

test('every import follows the dependency table', () => {
  const files = sourceFiles(SRC);
  assert.ok(files.length > 50, `read ${files.length} files from ${SRC}`);
  assert.deepEqual(findViolations(files), []);
});

test('the checker itself catches forbidden imports, with the exact messages', () => {
  // The same function the real check runs, fed files that break each rule once.
  const fakes: SourceFile[] = [
    { path: 'cli/commands/fake.ts', text: "import { x } from '../../registry/client.js';\nimport type { Y } from '../output.js';\nimport { z } from '../../index.js';\n" },
    { path: 'ops/fake.ts', text: "import leftPad from 'left-pad';\nimport { a } from '../endpoint/endpoint.js';\n" },
    { path: 'digest/fake.ts', text: "export { fetch } from 'commander';\nconst lazy = await import('../registry/client.js');\n" },
    { path: 'platform/fine.ts', text: "import { readFile } from 'node:fs/promises';\nimport { PolyarchError } from '../errors/polyarch-error.js';\n" },
    { path: 'nowhere/x.ts', text: "import { y } from '../internal/redact.js';\n" },
  ];
  assert.deepEqual(findViolations(fakes), [
    'src/cli/commands/fake.ts imports ../../registry/client.js (cli may import only index.ts)',
    'src/ops/fake.ts imports package left-pad, which no folder owns (add it to the table with a reason)',
    'src/digest/fake.ts imports package commander (only cli may)',
    'src/digest/fake.ts imports ../registry/client.js (digest may import only internal, errors)',
    'src/nowhere/x.ts is in a folder the dependency table does not know (nowhere)',
  ]);
  assert.deepEqual(findViolations(fakes.filter((f) => f.path === 'platform/fine.ts')), []);
});
