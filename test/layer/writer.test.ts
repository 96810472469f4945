// writeLayer's entry kinds beyond files, directories and symlinks: hard links, whiteouts and
// opaque markers, named as the OCI layer spec names them and read back by applyLayer.
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { applyLayer } from '../../src/layer/extract.js';
import { walkLayer } from '../../src/layer/scan.js';
import { missingParents, tarPathOf, writeLayer, type LayerEntry } from '../../src/layer/writer.js';
import { tempDir } from '../helpers/temp-dir.js';

const owner = { mode: 0o644, uid: 0, gid: 0 };

describe('writeLayer: hard links, whiteouts, opaque directories', () => {
  test('tar names of each kind', () => {
    const rows: [LayerEntry['type'], string, string][] = [
      ['file', 'a/b', 'a/b'],
      ['directory', 'a', 'a'],
      ['whiteout', 'a/b', 'a/.wh.b'],
      ['whiteout', 'top', '.wh.top'],
      ['opaque', 'a/b', 'a/b/.wh..wh..opq'],
      ['link', 'x', 'x'],
    ];
    for (const [type, path, name] of rows) assert.equal(tarPathOf({ type, path }), name, `${type} ${path}`);
  });

  test('an opaque marker needs its directory; a whiteout does not count as one', () => {
    assert.deepEqual(missingParents([{ path: 'a/b', type: 'opaque', ...owner }]), ['a', 'a/b']);
    assert.deepEqual(missingParents([{ path: 'a/b', type: 'whiteout', ...owner }, { path: 'a/b/c', type: 'file', ...owner }]), ['a', 'a/b']);
  });

  test('written, read back and applied', async () => {
    const dir = await tempDir();
    try {
      const root = join(dir.path, 'root');
      await mkdir(join(root, 'gone/deep'), { recursive: true });
      await mkdir(join(root, 'opaque'), { recursive: true });
      await writeFile(join(root, 'opaque/lower'), 'lower\n');
      await writeFile(join(root, 'gone/deep/f'), 'f\n');
      await writeFile(join(root, 'kept'), 'kept\n');
      const source = join(dir.path, 'bytes');
      await writeFile(source, 'shared\n');
      const entries: LayerEntry[] = [
        { path: 'opaque', type: 'directory', mode: 0o755, uid: 0, gid: 0 },
        { path: 'opaque', type: 'opaque', mode: 0, uid: 0, gid: 0 },
        { path: 'opaque/upper', type: 'file', source, size: 7, ...owner },
        { path: 'opaque/z-link', type: 'link', linkname: 'opaque/upper', ...owner },
        { path: 'gone', type: 'whiteout', mode: 0, uid: 0, gid: 0 },
      ];
      const layer = await writeLayer(entries, { file: join(dir.path, 'layer.tar.gz'), mtime: new Date(0) });
      const seen: string[] = [];
      await walkLayer(createReadStream(layer.file), layer.descriptor, async (name, header, content) => {
        seen.push(`${header.type} ${name} ${header.size ?? 0}${header.linkname ? ` -> ${header.linkname}` : ''}`);
        content.resume();
      });
      assert.deepEqual(seen, ['file .wh.gone 0', 'directory opaque 0', 'file opaque/.wh..wh..opq 0', 'file opaque/upper 7', 'link opaque/z-link 0 -> opaque/upper']);
      await applyLayer(root, createReadStream(layer.file), { mediaType: layer.descriptor.mediaType });
      assert.deepEqual((await readdir(root)).sort(), ['kept', 'opaque']);
      assert.deepEqual((await readdir(join(root, 'opaque'))).sort(), ['upper', 'z-link']);
      assert.equal((await lstat(join(root, 'opaque/upper'))).ino, (await lstat(join(root, 'opaque/z-link'))).ino);
      assert.equal(await readFile(join(root, 'opaque/z-link'), 'utf8'), 'shared\n');
    } finally {
      await dir.remove();
    }
  });
});
