// The installed `polyarch` command: the compiled CLI (dist/cli/main.js) and everything it imports,
// bundled by esbuild into a few files in dist/bin/. Node resolves, stats, reads and compiles about
// 170 separate modules for a command otherwise, which was about a third of a short command's time
// and of a warm build's. Packages the library loads with require() on first use (dockerfile-ast,
// yaml, tar-stream, …) stay in node_modules and load as before. The import() calls the CLI makes
// so that `--help` loads little stay split into chunks. The library (dist/index.js) is not
// bundled: a program that imports it gets it module by module.
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
