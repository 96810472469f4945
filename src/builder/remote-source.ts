// `ADD https://…`: the file is streamed to a scratch file and hashed on the way; `--checksum`
// (sha256 or sha512, as BuildKit takes it) must match before the file goes into a layer.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PolyarchError } from '../errors/polyarch-error.js';
import { codeForStatus } from '../errors/codes.js';

export function isRemoteSource(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** The file name a URL gives `ADD URL DIR/`: its last path segment. */
export function remoteFileName(url: string): string | undefined {
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  return name === '' || name === '.' || name === '..' ? undefined : name;
}

export interface Downloaded {
  readonly size: number;
  /** sha256 of the content, hex: the layer-cache key for this file. */
  readonly sha256: string;
}

/** A GET that follows up to 10 redirects; node:http, so the body is a Node stream from the start. */
function getFollowing(url: string, signal: AbortSignal | undefined, hops = 0): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https:') ? httpsGet : httpGet)(url, signal ? { signal } : {}, (response) => {
      const location = response.headers.location;
      if ((response.statusCode ?? 0) >= 300 && (response.statusCode ?? 0) < 400 && location) {
        response.resume();
        if (hops >= 10) reject(new Error('more than 10 redirects'));
        else getFollowing(new URL(location, url).href, signal, hops + 1).then(resolve, reject);
      } else resolve(response);
    });
    request.on('error', reject);
  });
}

/**
 * Downloads `url` into `file` (created new). `checksum` is `sha256:HEX` or `sha512:HEX`; a
 * mismatch removes the file and is reported as bad input.
 */
export async function downloadSource(url: string, file: string, options: { checksum?: string; signal?: AbortSignal } = {}): Promise<Downloaded> {
  const want = options.checksum === undefined ? undefined : /^(sha256|sha512):([0-9a-f]+)$/i.exec(options.checksum);
  if (options.checksum !== undefined && !want) throw new PolyarchError('USAGE', `--checksum=${options.checksum}: expected sha256:HEX or sha512:HEX`);
  const response = await getFollowing(url, options.signal).catch((error: unknown) => {
    throw new PolyarchError('NETWORK', `${url}: ${(error as Error).message}`, { cause: error });
  });
  const status = response.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    response.resume();
    throw new PolyarchError(codeForStatus(status), `${url}: HTTP ${status}`);
  }
  const sha256 = createHash('sha256');
  const checked = want && want[1]!.toLowerCase() === 'sha512' ? createHash('sha512') : sha256;
  let size = 0;
  const hash = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sha256.update(chunk);
      if (checked !== sha256) checked.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(response, hash, createWriteStream(file, { flags: 'wx' }));
  } catch (error) {
    await rm(file, { force: true });
    throw new PolyarchError('NETWORK', `${url}: ${(error as Error).message}`, { cause: error });
  }
  const sha256Hex = sha256.digest('hex');
  if (want) {
    const got = checked === sha256 ? sha256Hex : checked.digest('hex');
    if (got !== want[2]!.toLowerCase()) {
      await rm(file, { force: true });
      throw new PolyarchError('DIGEST_MISMATCH', `${url}: content is ${want[1]!.toLowerCase()}:${got}, not the --checksum given`);
    }
  }
  return { size, sha256: sha256Hex };
}
