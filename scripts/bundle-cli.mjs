// The installed `polyarch` command: the compiled CLI (dist/cli/main.js) and everything it imports,
// bundled by esbuild into a few files in dist/bin/. Node resolves, stats, reads and compiles about
// 170 separate modules for a command otherwise, which was about a third of a short command's time
// and of a warm build's. The entry point answers --version and --help from the command definitions
// alone; everything a command runs (dist/cli/command-code.js: commander, the library, the commands)
// is one CommonJS file, command-code.cjs, which the entry loads through V8's code cache
// (src/cli/load-command-code.ts). Each package the library loads on first use (lazyModule:
// dockerfile-ast, yaml, tar-stream, …) gets a one-file bundle of its own in dist/bin/vendor/. The
// library (dist/index.js) is not bundled: a program that imports it gets it module by module.
import { build } from 'esbuild';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Every package name the compiled library passes to lazyModule('…'). */
async function lazyPackages(dir) {
  const names = new Set();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
    const text = await readFile(join(entry.parentPath ?? entry.path, entry.name), 'utf8');
    for (const match of text.matchAll(/lazyModule\('([^']+)'\)/g)) names.add(match[1]);
  }
  return [...names].sort();
}

/**
 * lazyModule's require(name) takes its name at run time. In the bundle it requires the package's
 * own one-file bundle from dist/bin/vendor/ instead, made below: one file to read and compile
 * rather than the package's dozens (dockerfile-ast: 6 ms instead of 18 on an idle machine), and
 * still only for the commands that use it. A name without one is required from node_modules.
 */
function lazyModulesFromVendor(names) {
  const vendored = Object.fromEntries(names.map((name) => [name, `./vendor/${vendorFile(name)}`]));
  return {
    name: 'lazy-modules-from-vendor',
    setup(build) {
      build.onLoad({ filter: /[\\/]dist[\\/]internal[\\/]lazy-module\.js$/ }, () => ({
        loader: 'js',
        // The path comes from a table, not a literal: esbuild leaves it to be required at run time.
        contents: [
          `const vendored = ${JSON.stringify(vendored)};`,
          'export function lazyModule(name) {',
          '  let loaded;',
          '  const path = Object.hasOwn(vendored, name) ? vendored[name] : name;',
          '  return () => (loaded ??= require(path));',
          '}',
        ].join('\n'),
      }));
    },
  };
}

/** A package's bundle in dist/bin/vendor/ (`@balena/dockerignore` → `balena-dockerignore.cjs`). */
function vendorFile(name) {
  return `${name.replace(/^@/, '').replace(/\//g, '-')}.cjs`;
}

/**
 * The text with every character outside ASCII written as a \\u escape. esbuild escapes them in
 * strings, but leaves them in template literals, regular expressions and the comments it keeps;
 * one such character makes V8 hold the whole source as two-byte text, and reading and compiling
 * command-code.cjs took 21 + 39 ms instead of 10 + 23. The escape means the same character in a
 * string, a template, a regular expression and a comment; after a backslash it would not.
 */
function asciiOnly(text, file) {
  return text.replace(/(\\?)([^\x00-\x7f])/g, (_, backslash, char) => {
    if (backslash) throw new Error(`${file}: an escaped character outside ASCII (${JSON.stringify(char)}) cannot be written as \\u`);
    return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/**
 * In the entry's bundle, the command code is the CommonJS file made below, not modules bundled in:
 * load-command-code.js runs that file through the code cache. Its import('./command-code.js') is
 * for the compiled modules (dist/cli/); in the bundle it names the same file and is not reached.
 */
const commandCodeOutside = {
  name: 'command-code-outside',
  setup(build) {
    build.onResolve({ filter: /^\.\/command-code\.js$/ }, () => ({ path: './command-code.cjs', external: true }));
  },
};

const outdir = 'dist/bin';
await rm(outdir, { recursive: true, force: true });
const lazy = await lazyPackages('dist');
for (const name of lazy) {
  await build({ entryPoints: [name], outfile: join(outdir, 'vendor', vendorFile(name)), bundle: true, format: 'cjs', platform: 'node', target: 'node20.15', logLevel: 'warning' });
}
await build({
  entryPoints: {
    polyarch: 'dist/cli/main.js',
    // htpasswd.ts starts this file beside itself (new URL('./bcrypt-worker.js', import.meta.url)).
    'bcrypt-worker': 'dist/server/bcrypt-worker.js',
    // unpack-in-worker.ts starts this one the same way (new URL('./unpack-worker.js', import.meta.url)).
    'unpack-worker': 'dist/layer/unpack-worker.js',
  },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.15',
  // The optional native module (required when zstd is first asked for) and the vendored packages
  // (required when first used) are files of their own.
  external: ['zstd-napi', './vendor/*'],
  // Bundled CommonJS packages call require() for Node's own modules; an ES module has none.
  banner: { js: "import { createRequire as polyarchCreateRequire } from 'node:module'; const require = polyarchCreateRequire(import.meta.url);" },
  chunkNames: 'chunk-[hash]',
  logLevel: 'warning',
  plugins: [lazyModulesFromVendor(lazy), commandCodeOutside],
});
const commandCode = join(outdir, 'command-code.cjs');
await build({
  entryPoints: ['dist/cli/command-code.js'],
  outfile: commandCode,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20.15',
  external: ['zstd-napi', './vendor/*'],
  // import.meta.url (package.json, the workers beside the bin, zstd-napi's require) is this file's URL.
  define: { 'import.meta.url': 'polyarchFileUrl' },
  banner: { js: "const polyarchFileUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  plugins: [lazyModulesFromVendor(lazy)],
});
const commandText = await readFile(commandCode, 'utf8');
// vm.Script, which runs this file, has no loader for import(): one would fail only when reached.
if (/[^\w$.]import\s*\(/.test(commandText)) throw new Error(`${commandCode} holds an import(): the command code must be CommonJS through and through`);
await writeFile(commandCode, asciiOnly(commandText, commandCode));
