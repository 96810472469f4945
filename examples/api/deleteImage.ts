// Deletes a tag's manifest from a registry (a copy made for the purpose, so the demo stays).
import assert from 'node:assert/strict';
import { copy, deleteImage, listTags } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const repository = `${registry}/examples/delete-image`;
await copy({ source: `${registry}/demo/busybox:amd64`, destination: `${repository}:old` });

// #region example
const { deleted } = await deleteImage({ location: `${repository}:old` });
// A registry deletes by digest: the tag is resolved first, and goes with its manifest.
assert.match(deleted, /^sha256:/);
assert.ok(!(await listTags({ location: repository })).includes('old'));
console.log(`deleted ${deleted}`);
// #endregion example
