import type { ConnectionOptions, EndpointOpener } from '../endpoint/open-endpoint.js';
import type { Location } from '../reference/location.js';
import { connectionOf, createEndpointOpener } from '../endpoint/open-endpoint.js';
import { parseLocation } from '../reference/location.js';

export type { ConnectionOptions };
export { connectionOf };

/** A location as the user wrote it, or already parsed. */
export type LocationInput = string | Location;

/** A location as written (`host/repo:tag`, `oci:DIR:tag`, …) parsed, or a parsed one as it is. */
export function toLocation(input: LocationInput): Location {
  return typeof input === 'string' ? parseLocation(input) : input;
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
