// What a stage's filesystem already holds, read from its layers' tar headers: one file's text
// (for `--chown` names) and the directories with their modes and owners (so a COPY's parent
// directories keep what the base gave them, /tmp's 1777 included). The tar reading is layer/'s;
// this file opens the layers from the build's store and caches each layer's directory list there.
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Descriptor } from '../image/descriptor.js';
import type { OciLayout } from '../store/oci-layout.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { directoriesOfLayer, fileFromLayers as fileFromLayerStreams, type DirectoryFacts } from '../layer/scan.js';

export type { DirectoryFacts };

/** One file's text from the newest layer that has it, or undefined. Files over 1 MiB are skipped. */
export function fileFromLayers(layout: OciLayout, layers: readonly Descriptor[], path: string): Promise<string | undefined> {
  return fileFromLayerStreams(async (layer) => (await layout.openBlob(layer)) as Readable, layers, path);
}

/** Every directory the layers make, newest facts winning; each layer's list is cached by digest. */
export async function directoriesOf(layout: OciLayout, layers: readonly Descriptor[]): Promise<Map<string, DirectoryFacts>> {
  const all = new Map<string, DirectoryFacts>();
  for (const layer of layers) {
    const cacheFile = join(layout.dir, 'polyarch-dir-cache', layer.digest.replace(':', '-'));
    let dirs = await readFile(cacheFile, 'utf8')
      .then((text) => JSON.parse(text) as [string, DirectoryFacts][])
      .catch(() => undefined);
    if (!dirs) {
      dirs = await directoriesOfLayer((await layout.openBlob(layer)) as Readable, layer);
      await writeFileAtomic(cacheFile, Buffer.from(JSON.stringify(dirs)));
    }
    for (const [name, facts] of dirs) all.set(name, facts);
  }
  return all;
}
