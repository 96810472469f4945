import { Transform, pipeline, type TransformCallback } from 'node:stream';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { PieceTaker } from '../internal/streams.js';
import { algorithmOf, createDigester, digestFromHash, shortDigest, type Digest } from './digest.js';

export class DigestMismatchError extends PolyarchError {
  override name = 'DigestMismatchError';
  readonly expected: Digest;
  readonly actual: Digest;
  readonly bytesRead: number;
  constructor(what: string, expected: Digest, actual: Digest, bytesRead: number) {
    super('DIGEST_MISMATCH', `${what}: digest mismatch, expected ${shortDigest(expected)} but got ${shortDigest(actual)} after ${bytesRead} bytes`);
    this.expected = expected;
    this.actual = actual;
    this.bytesRead = bytesRead;
  }
}

export class SizeMismatchError extends PolyarchError {
  override name = 'SizeMismatchError';
  constructor(what: string, expected: number, actual: number, more: boolean) {
    super('SIZE_MISMATCH', `${what}: size mismatch, expected ${expected} bytes but ${more ? 'got more than that' : `got ${actual}`}`);
  }
}

export interface VerifyOptions {
  readonly digest: Digest;
  /** Declared size; -1 or undefined when unknown. Reading stops with an error past it. */
  readonly size?: number;
  /** Names the content in messages, e.g. `blob sha256:… in registry 127.0.0.1:5000/app`. */
  readonly what?: string;
}

/**
 * A pass-through that hashes every byte and fails the stream *before* it ends when the
 * size or digest is wrong, so a consumer never sees a clean end of bad content.
 * The latest chunk is held back until the digest is known to match: with a declared size that
 * is the moment the size is reached (no waiting for the source to end), without one it is the
 * end of the source. A consumer framed by length therefore never receives a complete body of
 * wrong bytes. Chunks are passed on as they are (held by reference, never copied).
 */
export class VerifyStream extends Transform {
  readonly #digest: Digest;
  readonly #size: number;
  readonly #what: string;
  readonly #hash;
  #bytes = 0;
  #held: Buffer | undefined;
  #verified = false;

  constructor(options: VerifyOptions) {
    super();
    this.#digest = options.digest;
    this.#size = options.size ?? -1;
    this.#what = options.what ?? `content ${shortDigest(options.digest)}`;
    this.#hash = createDigester(algorithmOf(options.digest));
  }

  get bytesRead(): number {
    return this.#bytes;
  }

  /** Whether this stream already checks exactly `digest` and `size` (so a consumer need not hash again). */
  verifies(digest: Digest, size: number | undefined): boolean {
    return this.#digest === digest && (size === undefined || size < 0 || this.#size === size);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#size >= 0 && this.#bytes > this.#size) {
      done(new SizeMismatchError(this.#what, this.#size, this.#bytes, true));
      return;
    }
    this.#hash.update(chunk);
    if (this.#held) this.push(this.#held);
    this.#held = chunk;
    if (this.#bytes === this.#size) {
      // Everything declared has arrived: check now and release the last chunk only if it matches.
      const mismatch = this.#check();
      if (mismatch) {
        done(mismatch);
        return;
      }
      this.#verified = true;
      this.#release();
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.#size >= 0 && this.#bytes !== this.#size) {
      done(new SizeMismatchError(this.#what, this.#size, this.#bytes, false));
      return;
    }
    if (!this.#verified) {
      const mismatch = this.#check();
      if (mismatch) {
        done(mismatch);
        return;
      }
    }
    this.#release();
    done();
  }

  #check(): DigestMismatchError | undefined {
    const actual = digestFromHash(this.#hash, algorithmOf(this.#digest));
    return actual === this.#digest ? undefined : new DigestMismatchError(this.#what, this.#digest, actual, this.#bytes);
  }

  #release(): void {
    if (this.#held) this.push(this.#held);
    this.#held = undefined;
  }
}

export function verifyStream(options: VerifyOptions): VerifyStream {
  return new VerifyStream(options);
}

/** Verifies bytes already in memory (manifests, configs). */
export function verifyBytes(bytes: Uint8Array, options: VerifyOptions): void {
  if (options.size !== undefined && options.size >= 0 && bytes.length !== options.size) {
    throw new SizeMismatchError(options.what ?? `content ${shortDigest(options.digest)}`, options.size, bytes.length, bytes.length > options.size);
  }
  const hash = createDigester(algorithmOf(options.digest)).update(bytes);
  const actual = digestFromHash(hash, algorithmOf(options.digest));
  if (actual !== options.digest) throw new DigestMismatchError(options.what ?? `content ${shortDigest(options.digest)}`, options.digest, actual, bytes.length);
}

/**
 * `source` through a verifier, returned ready to hand out: errors are tracked from the start, so
 * a small blob that fails before anyone consumes it rejects the consumer instead of crashing.
 */
export function verifiedStream(source: NodeJS.ReadableStream, options: VerifyOptions): VerifyStream {
  const verifier = verifyStream(options);
  pipeline(source, verifier, () => undefined);
  return verifier;
}

/** A taker behind verifyingTaker's check. */
export interface VerifyingTaker {
  readonly take: PieceTaker;
  /** Bytes offered so far. */
  readonly bytes: number;
  /** Checks, once the source has ended, that the size was reached (and, for an empty blob, the digest). */
  end(): void;
}

/**
 * `take` behind a check of the pieces against `digest` and `size` (VerifyStream's rule without a
 * stream): more bytes than the size fail at once, and the piece that completes the size reaches
 * `take` only when the digest matches, so a taker framed by the size never holds the whole of
 * wrong bytes.
 */
export function verifyingTaker(options: VerifyOptions & { readonly size: number }, take: PieceTaker): VerifyingTaker {
  const what = options.what ?? `content ${shortDigest(options.digest)}`;
  const algorithm = algorithmOf(options.digest);
  const hash = createDigester(algorithm);
  let bytes = 0;
  const mismatch = (): DigestMismatchError | undefined => {
    const actual = digestFromHash(hash, algorithm);
    return actual === options.digest ? undefined : new DigestMismatchError(what, options.digest, actual, bytes);
  };
  return {
    get bytes() {
      return bytes;
    },
    take: (piece) => {
      bytes += piece.length;
      if (bytes > options.size) return Promise.reject(new SizeMismatchError(what, options.size, bytes, true));
      hash.update(piece);
      const wrong = bytes === options.size ? mismatch() : undefined;
      return wrong ? Promise.reject(wrong) : take(piece);
    },
    end: () => {
      if (bytes !== options.size) throw new SizeMismatchError(what, options.size, bytes, false);
      const wrong = bytes === 0 ? mismatch() : undefined;
      if (wrong) throw wrong;
    },
  };
}
