import type { ConnectionOptions, EndpointOpener } from '../endpoint/open-endpoint.js';
import type { Location } from '../reference/location.js';
import { connectionOf, createEndpointOpener } from '../endpoint/open-endpoint.js';
import { parseLocation } from '../reference/location.js';
import { PolyarchError } from '../errors/polyarch-error.js';

export type { ConnectionOptions };
export { connectionOf };

/** A location as the user wrote it, or already parsed. */
export type LocationInput = string | Location;

/** A location as written (`host/repo:tag`, `oci:DIR:tag`, …) parsed, or a parsed one as it is. */
export function toLocation(input: LocationInput): Location {
  if (typeof input === 'string') return parseLocation(input);
  // A caller from plain JavaScript may hand anything: a wrong value is one coded line, not a TypeError.
  const kind = (input as { kind?: unknown } | null | undefined)?.kind;
  if (typeof input !== 'object' || input === null || !LOCATION_KINDS.has(kind as string)) {
    throw new PolyarchError('INVALID_LOCATION', `location ${describeValue(input)} is neither a string such as "host/repo:tag" or "oci:DIR" nor a parsed Location`);
  }
  return input;
}

const LOCATION_KINDS: ReadonlySet<string> = new Set(['registry', 'oci-layout', 'oci-archive', 'docker-archive']);

/** A value as a message can show it, whatever it is. */
function describeValue(value: unknown): string {
  if (value === undefined || value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

/** Runs `fn` with an opener whose endpoints and connections are all closed afterwards. */
export async function withOpener<T>(options: ConnectionOptions, fn: (opener: EndpointOpener) => Promise<T>): Promise<T> {
  const opener = createEndpointOpener(options);
  try {
    return await fn(opener);
  } finally {
    await opener.close();
  }
}

/** What to ask for when a location names no tag or digest (docker's default). */
export function referenceOrLatest(reference: string | undefined): string {
  return reference ?? 'latest';
}
