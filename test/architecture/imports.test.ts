// Enforces DESIGN §4.2: each folder imports only the layers below it, and third-party
// packages stay in the folders that own them.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
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
  image: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform'],
  archcheck: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform'],
  layer: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image'],
  registry: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image', 'archcheck'],
  store: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image', 'archcheck'],
  endpoint: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image', 'archcheck', 'registry', 'store'],
  ops: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image', 'archcheck', 'endpoint', 'layer'],
  build: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image', 'ops', 'store', 'layer'],
  server: ['internal', 'errors', 'digest', 'mediatype', 'reference', 'image', 'store'],
  cli: ['index.ts'],
  'index.ts': ['ops', 'build', 'server', 'endpoint', 'errors', 'digest', 'mediatype', 'reference', 'platform', 'image', 'layer'],
};

/** Third-party packages and the folders that may use them. */
const PACKAGES: Readonly<Record<string, readonly string[]>> = {
  undici: ['registry'],
  'tar-stream': ['store', 'layer'],
  commander: ['cli'],
  yaml: ['ops'],
  bcryptjs: ['server'],
  'dockerfile-ast': ['build'],
  'zstd-napi': ['layer'],
  '@balena/dockerignore': ['build'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith('.ts') ? [path] : [];
  });
}

function folderOf(path: string): string {
  const rel = relative(SRC, path);
  const first = rel.split(/[\\/]/)[0] ?? rel;
  return rel.includes('/') || rel.includes('\\') ? first : rel;
}

function importsOf(text: string): string[] {
  const found: string[] = [];
  const pattern = /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (const match of text.matchAll(pattern)) found.push((match[1] ?? match[2] ?? match[3]) as string);
  return found;
}

test('every import follows the dependency table', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    const allowed = ALLOWED[from];
    assert.ok(allowed, `src/${relative(SRC, file)} is in a folder the dependency table does not know (${from})`);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const where = `src/${relative(SRC, file)}`;
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        const target = folderOf(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        if (target !== from && !allowed.includes(target)) violations.push(`${where} imports ${spec} (${from} may import only ${allowed.join(', ') || 'node:*'})`);
        continue;
      }
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string);
      const owners = PACKAGES[pkg];
      if (!owners) violations.push(`${where} imports package ${pkg}, which no folder owns (add it to the table with a reason)`);
      else if (!owners.includes(from)) violations.push(`${where} imports package ${pkg} (only ${owners.join(', ')} may)`);
    }
  }
  assert.deepEqual(violations, []);
});

test('the checker itself catches a forbidden import', () => {
  // A cli file importing the registry client must be reported: proves the rule can fail.
  const fake = join(SRC, 'cli', 'commands', 'fake.ts');
  const target = folderOf(resolve(dirname(fake), '../../registry/client.ts'));
  assert.equal(target, 'registry');
  assert.ok(!(ALLOWED.cli ?? []).includes(target));
  assert.deepEqual(importsOf("import { x } from '../../registry/client.js';\nimport type { Y } from './y.js';"), ['../../registry/client.js', './y.js']);
});
