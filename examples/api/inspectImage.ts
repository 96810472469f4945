// Reads an image's config and layers through an endpoint the caller keeps open.
import assert from 'node:assert/strict';
import { formatPlatform, inspectImage, parseLocation, withOpener } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';

// #region example
const image = await withOpener({}, async (opener) => {
  const { endpoint } = await opener.open(parseLocation(`${registry}/demo/busybox`), 'read');
  return inspectImage({ endpoint, reference: 'amd64' });
});
assert.equal(image.kind, 'image');
if (image.kind === 'image') {
  assert.equal(image.platform && formatPlatform(image.platform), 'linux/amd64');
  console.log(`${image.descriptor.digest}: ${image.layers.length} layer(s), ${image.totalSize} bytes`);
}
// #endregion example
