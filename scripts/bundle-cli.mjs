// The installed `polyarch` command: the compiled CLI (dist/cli/main.js) and everything it imports,
// bundled by esbuild into a few files in dist/bin/. Node resolves, stats, reads and compiles about
// 170 separate modules for a command otherwise, which is a third of a warm build's time and most of
// a short command's. The import() calls the CLI makes so that `--help` loads little stay split
// into chunks. The library (dist/index.js) is not bundled: it is imported module by module.
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';

const outdir = 'dist/bin';
await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: {
    polyarch: 'dist/cli/main.js',
    // htpasswd.ts starts this file beside itself (new URL('./bcrypt-worker.js', import.meta.url)).
    'bcrypt-worker': 'dist/server/bcrypt-worker.js',
  },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.15',
  // Optional native module, loaded by require() when zstd is first asked for.
  external: ['zstd-napi'],
  // Bundled CommonJS packages call require() for Node's own modules; an ES module has none.
  banner: { js: "import { createRequire as polyarchCreateRequire } from 'node:module'; const require = polyarchCreateRequire(import.meta.url);" },
  chunkNames: 'chunk-[hash]',
  logLevel: 'warning',
});
