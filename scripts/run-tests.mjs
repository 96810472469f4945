// Runs every compiled test file (build/test/**/*.test.js) with Node's test runner, after
// checking that the programs the tests talk to are installed: a missing one fails loudly,
// naming the Debian package, instead of skipping tests.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const REQUIRED_PROGRAMS = [
  { program: 'docker-registry', pkg: 'docker-registry' },
  { program: 'skopeo', pkg: 'skopeo' },
  { program: 'openssl', pkg: 'openssl' },
  { program: 'docker', pkg: 'docker.io' },
  { program: 'chromium', pkg: 'chromium' },
  { program: 'umoci', pkg: 'umoci' },
  { program: 'zstd', pkg: 'zstd' },
  { program: 'bzip2', pkg: 'bzip2' },
  { program: 'xz', pkg: 'xz-utils' },
  { program: 'bwrap', pkg: 'bubblewrap' },
  { program: 'qemu-aarch64-static', pkg: 'qemu-user-static' },
  { program: 'update-binfmts', pkg: 'binfmt-support' },
  { program: 'mmdebstrap', pkg: 'mmdebstrap' },
  { program: 'buildah', pkg: 'buildah' },
  { program: 'getfattr', pkg: 'attr' },
];

const missing = REQUIRED_PROGRAMS.filter(({ program }) => spawnSync('sh', ['-c', `command -v ${program}`]).status !== 0);
if (missing.length > 0) {
  for (const { program, pkg } of missing) console.error(`missing program "${program}": install the Debian package ${pkg} (apt-get install ${pkg})`);
  process.exit(1);
}

function findTests(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return findTests(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

// Optional filter: `npm test -- registry store` runs only files whose path contains a word.
const filters = process.argv.slice(2);
const files = findTests('build/test')
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort();
if (files.length === 0) {
  console.error('no test files found under build/test (did the build run?)');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
