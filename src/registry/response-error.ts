// Registry error answers become RegistryError: the OCI `{"errors":[…]}` entries when present,
// otherwise a code derived from the status. Messages are kept to one line.
import type { Readable } from 'node:stream';
import { RegistryError, parseOciErrorBody, type OciErrorEntry } from '../errors/registry-error.js';
import { discardBody } from './transport/http.js';

const MAX_ERROR_BODY = 64 * 1024;

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

export function errorFromResponse(method: string, url: string, status: number, bodyText: string, what?: string): RegistryError {
  const errors: OciErrorEntry[] = parseOciErrorBody(bodyText).map((e) => ({ ...e, ...(e.message !== undefined ? { message: oneLine(e.message) } : {}) }));
  return new RegistryError({ method, url, status, errors, ...(what !== undefined ? { what } : {}) });
}

/** Reads at most 64 KiB of an error body as text; a broken body reads as empty. */
export async function readErrorText(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      if (total + buf.length > MAX_ERROR_BODY) {
        chunks.push(buf.subarray(0, MAX_ERROR_BODY - total));
        body.destroy();
        break;
      }
      chunks.push(buf);
      total += buf.length;
    }
  } catch {
    // The status alone still tells what happened.
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The error for a response that was not what the caller wanted; consumes its body. */
export async function errorFromHttp(method: string, response: { status: number; url: string; body: Readable }, what?: string): Promise<RegistryError> {
  let text = '';
  if (method === 'HEAD') await discardBody(response.body);
  else text = await readErrorText(response.body);
  return errorFromResponse(method, response.url, response.status, text, what);
}
