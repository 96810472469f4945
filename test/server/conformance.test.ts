// The whole registry client suite against polyarch's own server, as against distribution.
import { after, before } from 'node:test';
import { registrySuite } from '../registry/shared-suite.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';

let server: EmbeddedHandle;
before(async () => {
  server = await startEmbedded();
});
after(async () => {
  await server?.stop();
});

registrySuite('embedded registry', () => ({ host: server.host, options: {}, scheme: 'http' }));
