import { createHash, type Hash } from 'node:crypto';
import { PolyarchError } from '../errors/polyarch-error.js';

/**
 * A content digest `algorithm:encoded`.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/descriptor.md#digests
 */
export type Digest = string & { readonly __brand: 'Digest' };

const ENCODED_PATTERN: Readonly<Record<string, RegExp>> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

export type DigestAlgorithm = 'sha256' | 'sha512';

/** Whether `text` is a digest of a supported algorithm with an encoded part of the right length and characters. */
export function isDigest(text: string): text is Digest {
  const colon = text.indexOf(':');
  if (colon <= 0) return false;
  const pattern = ENCODED_PATTERN[text.slice(0, colon)];
  return pattern !== undefined && pattern.test(text.slice(colon + 1));
}

/** `text` as a digest, or an INVALID_REFERENCE error saying what is wrong with it. */
export function parseDigest(text: string): Digest {
  if (isDigest(text)) return text;
  const colon = text.indexOf(':');
  const why =
    colon <= 0
      ? 'expected algorithm:hex'
      : ENCODED_PATTERN[text.slice(0, colon)] === undefined
        ? `unsupported algorithm "${text.slice(0, colon)}" (sha256 or sha512)`
        : 'the encoded part has the wrong length or characters';
  throw new PolyarchError('INVALID_REFERENCE', `cannot parse digest "${text}": ${why}`);
}

export function algorithmOf(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

export function encodedPart(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

/** The digest of `bytes` (sha256 unless told otherwise). */
export function digestOfBytes(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}` as Digest;
}

export function digestFromHash(hash: Hash, algorithm: DigestAlgorithm): Digest {
  return `${algorithm}:${hash.digest('hex')}` as Digest;
}

/** Short form for messages: `sha256:0123456789ab…`. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return colon > 0 && digest.length > colon + 13 ? `${digest.slice(0, colon + 13)}…` : digest;
}
