// What a stage's filesystem already holds, read from its layers' tar headers: one file's text
// (for `--chown` names) and the directories with their modes and owners (so a COPY's parent
// directories keep what the base gave them, /tmp's 1777 included).
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { extract, type Header } from 'tar-stream';
import type { Descriptor } from '../image/descriptor.js';
import type { OciLayout } from '../store/oci-layout.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { decompressor } from './compression.js';

export interface DirectoryFacts {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** Calls `visit` for each entry of one layer, the entry's path without a leading `./` or `/`. */
async function scanLayer(layout: OciLayout, layer: Descriptor, visit: (name: string, header: Header, content: Readable) => Promise<void>): Promise<void> {
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    visit(header.name.replace(/^\.?\/+/, '').replace(/\/$/, ''), header, stream as unknown as Readable).then(
      () => next(),
      (error: unknown) => tar.destroy(error as Error),
    );
  });
  await pipeline((await layout.openBlob(layer)) as Readable, decompressor(layer), tar);
}

async function skip(content: Readable): Promise<void> {
  content.resume();
  await new Promise((done) => content.on('end', done));
}

/** One file's text from the newest layer that has it, or undefined. Files over 1 MiB are skipped. */
export async function fileFromLayers(layout: OciLayout, layers: readonly Descriptor[], path: string): Promise<string | undefined> {
  for (const layer of [...layers].reverse()) {
    let found: string | undefined;
    await scanLayer(layout, layer, async (name, header, content) => {
      if (found !== undefined || name !== path || header.type !== 'file' || (header.size ?? 0) > 1 << 20) return skip(content);
      const chunks: Buffer[] = [];
      for await (const chunk of content) chunks.push(chunk as Buffer);
      found = Buffer.concat(chunks).toString('utf8');
    });
    if (found !== undefined) return found;
  }
  return undefined;
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
      const found: [string, DirectoryFacts][] = [];
      await scanLayer(layout, layer, async (name, header, content) => {
        if (header.type === 'directory' && name !== '') found.push([name, { mode: (header.mode ?? 0o755) & 0o7777, uid: header.uid ?? 0, gid: header.gid ?? 0 }]);
        await skip(content);
      });
      dirs = found;
      await writeFileAtomic(cacheFile, Buffer.from(JSON.stringify(dirs)));
    }
    for (const [name, facts] of dirs) all.set(name, facts);
  }
  return all;
}
