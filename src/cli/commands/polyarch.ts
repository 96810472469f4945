import type { ProgramSpec } from '../command-spec.js';
import { GLOBAL_OPTIONS } from './global-options.js';
import { binfmtCommand } from './binfmt.js';
import { buildCommand } from './build.js';
import { bundleCommand } from './bundle.js';
import { completionCommand } from './completion.js';
import { configCommand } from './config.js';
import { copyCommand } from './copy.js';
import { explainCommand } from './explain.js';
import { indexCommand, pushCommand } from './index-create.js';
import { inspectCommand } from './inspect.js';
import { catalogCommand, deleteCommand, tagsCommand } from './list.js';
import { loginCommand, logoutCommand } from './login.js';
import { manifestCommand } from './manifest.js';
import { pruneCommand } from './prune.js';
import { runCommand } from './run.js';
import { serveCommand } from './serve.js';
import { verifyCommand } from './verify.js';

/** Every command, in the order `polyarch --help` lists them. */
export const POLYARCH: ProgramSpec = {
  name: 'polyarch',
  description: 'multi-architecture container images without a Docker daemon',
  versionOption: { flags: '-V, --version', description: 'output the version number' },
  options: GLOBAL_OPTIONS,
  commands: [
    loginCommand,
    logoutCommand,
    inspectCommand,
    copyCommand,
    bundleCommand,
    tagsCommand,
    catalogCommand,
    deleteCommand,
    manifestCommand,
    indexCommand,
    pushCommand,
    explainCommand,
    verifyCommand,
    serveCommand,
    buildCommand,
    pruneCommand,
    binfmtCommand,
    runCommand,
    configCommand,
    completionCommand,
  ],
};
