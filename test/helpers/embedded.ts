import { createRegistryServer, type RegistryServerOptions } from '../../src/server/server.js';
import { tempDir } from './temp-dir.js';

export interface EmbeddedHandle {
  readonly host: string;
  readonly url: string;
  readonly root: string;
  stop(): Promise<void>;
}

/** polyarch's own registry, in process, on 127.0.0.1 and a free port. */
export async function startEmbedded(options: Partial<RegistryServerOptions> = {}): Promise<EmbeddedHandle> {
  const dir = options.root ? undefined : await tempDir('polyarch-embedded-');
  const root = options.root ?? dir!.path;
  const server = await createRegistryServer({ ...options, root });
  const { host, url } = await server.listen(0, '127.0.0.1');
  return {
    host,
    url,
    root,
    async stop() {
      await server.close();
      await dir?.remove();
    },
  };
}
