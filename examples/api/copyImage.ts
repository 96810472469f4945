// Copies an image between two endpoints opened once, as a program moving many images would.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { copyImage, parseLocation, withOpener } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();

// #region example
const result = await withOpener({}, async (opener) => {
  const { endpoint: source } = await opener.open(parseLocation(`${registry}/demo/busybox:amd64`), 'read');
  const { endpoint: destination } = await opener.open(parseLocation(`oci:${join(dir, 'layout')}`), 'write');
  try {
    return await copyImage({ source, sourceReference: 'amd64', destination, destinationReference: 'busybox-amd64' });
  } finally {
    await destination.close(); // a layout names what it holds in index.json when closed
  }
});
assert.equal(result.manifests, 1);
console.log(`copied ${result.descriptor.digest}: ${result.blobsCopied} blobs, ${result.bytesCopied} bytes`);
// #endregion example
