// What a stage's layers leave (layer-scan.ts's pathsOf): the directories and links COPY resolves
// its destination through. The build reads a stage's start once and adds later layers to a copy
// of it, so two stacks over the same start must not see each other's changes.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { digestOfBytes } from '../../src/digest/digest.js';
import type { Descriptor } from '../../src/image/descriptor.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { pathsOf } from '../../src/builder/layer-scan.js';
import { openLayout, type OciLayout } from '../../src/store/oci-layout.js';
import { tarOf, type TarEntry } from '../helpers/tar.js';
import { tempDir } from '../helpers/temp-dir.js';

async function layer(layout: OciLayout, entries: readonly TarEntry[]): Promise<Descriptor> {
  const bytes = await tarOf(entries);
  const descriptor: Descriptor = { mediaType: MediaType.OciLayer, digest: digestOfBytes(bytes), size: bytes.length };
  await layout.putBlob(descriptor, Readable.from([bytes]));
  return descriptor;
}

test('pathsOf over a start: each stack adds its layers to its own copy, and the start stays as it was', async () => {
  const dir = await tempDir('polyarch-layer-scan-');
  try {
    const layout = await openLayout(dir.path, { create: true, writable: true });
    const base = await layer(layout, [
      { name: 'usr/', type: 'directory' },
      { name: 'usr/tools/', type: 'directory', mode: 0o750 },
      { name: 'usr/tools/deep/', type: 'directory' },
      { name: 'tools', type: 'symlink', linkname: 'usr/tools' },
      { name: 'opt/', type: 'directory' },
    ]);
    // One stack deletes /usr/tools (and what is below it) and makes /opt a link.
    const deleting = await layer(layout, [
      { name: 'usr/.wh.tools', type: 'file', content: '' },
      { name: 'opt', type: 'symlink', linkname: 'usr/local' },
    ]);
    // The other empties /usr (an opaque directory) and adds a folder in it.
    const opaque = await layer(layout, [
      { name: 'usr/', type: 'directory', mode: 0o700 },
      { name: 'usr/.wh..wh..opq', type: 'file', content: '' },
      { name: 'usr/new/', type: 'directory' },
    ]);
    const start = await pathsOf(layout, [base]);
    const startPaths = [...start.facts.keys()].sort();
    assert.deepEqual(startPaths, ['opt', 'tools', 'usr', 'usr/tools', 'usr/tools/deep']);

    const first = await pathsOf(layout, [deleting], start);
    assert.deepEqual([...first.facts.keys()].sort(), ['opt', 'tools', 'usr']);
    assert.deepEqual(first.facts.get('opt'), { type: 'symlink', target: 'usr/local' });
    const second = await pathsOf(layout, [opaque], start);
    assert.deepEqual([...second.facts.keys()].sort(), ['opt', 'tools', 'usr', 'usr/new']);
    assert.equal((second.facts.get('usr') as { mode: number }).mode, 0o700);

    // Both equal what reading the whole stack at once gives, and the start is unchanged.
    assert.deepEqual(first.facts, (await pathsOf(layout, [base, deleting])).facts);
    assert.deepEqual(second.facts, (await pathsOf(layout, [base, opaque])).facts);
    assert.deepEqual([...start.facts.keys()].sort(), startPaths);
    assert.equal((start.facts.get('usr/tools') as { mode: number }).mode, 0o750);
    // The start's index of children is its own too: forgetting below it again works from a copy.
    const again = await pathsOf(layout, [deleting], start);
    assert.deepEqual(again.facts, first.facts);
  } finally {
    await dir.remove();
  }
});
