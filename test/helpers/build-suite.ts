import { join } from 'node:path';
import { after, before } from 'node:test';
import { startEmbedded, type EmbeddedHandle } from './embedded.js';
import { tempDir } from './temp-dir.js';

export interface BuildSuite {
  readonly reg: EmbeddedHandle;
  readonly dir: { readonly path: string; remove(): Promise<void> };
  /** Points the build cache into `dir`, away from the user's own. */
  readonly env: NodeJS.ProcessEnv;
}

/** For a describe() of build tests: an embedded registry and a scratch directory, started before and removed after. */
export function buildSuite(): BuildSuite {
  const suite: { reg?: EmbeddedHandle; dir?: BuildSuite['dir']; env?: NodeJS.ProcessEnv } = {};
  before(async () => {
    suite.reg = await startEmbedded();
    suite.dir = await tempDir();
    suite.env = { XDG_CACHE_HOME: join(suite.dir.path, 'cache') };
  });
  after(async () => {
    await suite.reg?.stop();
    await suite.dir?.remove();
  });
  return suite as BuildSuite;
}
