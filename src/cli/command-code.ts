// Everything the entry point (main.ts) uses once a command runs, in one module: the bundle makes
// it one CommonJS file that loads through V8's code cache (load-command-code.ts). Each command's
// implementation is loaded when it runs.
export { closedOutputExitCode, interruptionBy, outputClosed, runCli } from './run-command.js';
export { EXIT_CODES } from './exit-codes.js';
export { terminalSafe } from './output.js';

/** Each command's implementation (its definition in commands/ names it), imported when it runs. */
export const actions = {
  binfmt: () => import('./actions/binfmt.js'),
  build: () => import('./actions/build.js'),
  bundle: () => import('./actions/bundle.js'),
  completion: () => import('./actions/completion.js'),
  config: () => import('./actions/config.js'),
  copy: () => import('./actions/copy.js'),
  explain: () => import('./actions/explain.js'),
  'index-create': () => import('./actions/index-create.js'),
  inspect: () => import('./actions/inspect.js'),
  list: () => import('./actions/list.js'),
  login: () => import('./actions/login.js'),
  manifest: () => import('./actions/manifest.js'),
  prune: () => import('./actions/prune.js'),
  run: () => import('./actions/run.js'),
  serve: () => import('./actions/serve.js'),
  verify: () => import('./actions/verify.js'),
};
