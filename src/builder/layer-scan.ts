// What a stage's filesystem already holds, read from its layers' tar headers: one file's text
// (for `--chown` names), the directories with their modes and owners (so a COPY's parent
// directories keep what the base gave them, /tmp's 1777 included) and the symbolic links (so a
// COPY into `/bin/` on a base whose /bin links to usr/bin lands in /usr/bin, as in BuildKit). The tar reading is layer/'s;
// this file opens the layers from the build's store and caches each layer's directory list there.
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Descriptor } from '../image/descriptor.js';
import type { OciLayout } from '../store/oci-layout.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { fileFromLayers as fileFromLayerStreams, pathsOfLayer, type PathFacts } from '../layer/scan.js';

export type { PathFacts };

/** One file's text from the newest layer that has it, or undefined. Files over 1 MiB are skipped. */
export function fileFromLayers(layout: OciLayout, layers: readonly Descriptor[], path: string): Promise<string | undefined> {
  return fileFromLayerStreams(async (layer) => (await layout.openBlob(layer)) as Readable, layers, path);
}

/** Every directory and symbolic link the layers make, the newest layer's word winning; each layer's list is cached by digest. */
export async function pathsOf(layout: OciLayout, layers: readonly Descriptor[]): Promise<Map<string, PathFacts>> {
  const all = new Map<string, PathFacts>();
  for (const layer of layers) {
    const cacheFile = join(layout.dir, 'polyarch-dir-cache', `${layer.digest.replace(':', '-')}.paths`);
    let paths = await readFile(cacheFile, 'utf8')
      .then((text) => JSON.parse(text) as [string, PathFacts][])
      .catch(() => undefined);
    if (!paths) {
      paths = await pathsOfLayer((await layout.openBlob(layer)) as Readable, layer);
      await writeFileAtomic(cacheFile, Buffer.from(JSON.stringify(paths)));
    }
    for (const [name, facts] of paths) all.set(name, facts);
  }
  return all;
}
