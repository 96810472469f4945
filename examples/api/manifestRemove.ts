// Deletes local manifest lists (docker's `manifest rm`); the registry is not touched.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { isPolyarchError, manifestCreate, manifestInspect, manifestRemove } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
const dir = process.env.POLYARCH_EXAMPLE_DIR ?? process.cwd();
const registryConfigDir = join(dir, 'docker-config');
const list = `${registry}/examples/unpushed:1`;
await manifestCreate({ list, images: [`${registry}/demo/busybox:amd64`], registryConfigDir });

// #region example
await manifestRemove({ lists: [list], registryConfigDir });
// Gone locally, and never pushed: inspecting it now asks the registry, which has no such tag.
await assert.rejects(manifestInspect({ image: list, registryConfigDir }), (error) => isPolyarchError(error) && error.code === 'MANIFEST_UNKNOWN');
console.log(`removed ${list}`);
// #endregion example
