// `node --import …/register.js SCRIPT`: installs the recording hooks before SCRIPT loads. ES module
// imports reach the hooks; require() (the installed bin is CommonJS) does not, so Module._load is
// wrapped to record those too, as the URLs the hooks would see.
import { appendFileSync } from 'node:fs';
import nodeModule, { register } from 'node:module';
import { pathToFileURL } from 'node:url';

register(new URL('./hooks.js', import.meta.url));

interface CommonJsLoader {
  _load(request: string, parent: unknown, isMain: boolean): unknown;
  _resolveFilename(request: string, parent: unknown, isMain: boolean): string;
}
const loader = nodeModule as unknown as CommonJsLoader;
const load = loader._load;
loader._load = function (request, parent, isMain) {
  const file = process.env.MODULE_TRACE_FILE;
  if (file) {
    const resolved = loader._resolveFilename(request, parent, isMain);
    appendFileSync(file, `${resolved.startsWith('/') ? pathToFileURL(resolved).href : resolved.startsWith('node:') ? resolved : `node:${resolved}`}\n`);
  }
  return load.call(this, request, parent, isMain);
};
