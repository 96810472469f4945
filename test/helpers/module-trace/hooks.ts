// Module hooks that record every module a process resolves, one URL a line, in the file named
// by MODULE_TRACE_FILE. Registered by ./register.ts (`node --import …/register.js`).
import { appendFileSync } from 'node:fs';

interface Resolved {
  readonly url: string;
}

type NextResolve = (specifier: string, context: unknown) => Promise<Resolved>;

export async function resolve(specifier: string, context: unknown, nextResolve: NextResolve): Promise<Resolved> {
  const resolved = await nextResolve(specifier, context);
  const file = process.env.MODULE_TRACE_FILE;
  if (file) appendFileSync(file, `${resolved.url}\n`);
  return resolved;
}
