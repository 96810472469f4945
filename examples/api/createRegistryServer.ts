// Starts the embedded registry on a free port, asks it for /v2/, and stops it through its signal.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createRegistryServer } from 'polyarch';

const dir = process.env.POLYARCH_EXAMPLE_DIR ?? '.';

// #region example
const stop = new AbortController();
const server = await createRegistryServer({ root: join(dir, 'registry'), signal: stop.signal });
const { url } = await server.listen(0); // port 0: any free port, on 127.0.0.1
const answer = await fetch(`${url}/v2/`);
console.log(`${url}/v2/ answers ${answer.status}`);
stop.abort(); // closes the server, as server.close() does
// #endregion example

assert.equal(answer.status, 200);
await server.close(); // a second close changes nothing
await assert.rejects(fetch(`${url}/v2/`), 'nothing listens any more');
