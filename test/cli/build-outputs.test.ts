// `build --output` strings become the library's typed outputs in one place, with buildx's grammar
// and the one-line errors the CLI has always given; the library turns them into locations.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { outputLocations, type BuildOutput } from '../../src/index.js';
import { parseBuildOutput, parseBuildOutputs, parseOutputCompression } from '../../src/cli/build-outputs.js';

function rejectsWith(fn: () => unknown, message: string): void {
  assert.throws(fn, (error: Error & { code?: string }) => {
    assert.equal(error.code, 'USAGE');
    assert.equal(error.message, message);
    return true;
  });
}

describe('build --output parsing', () => {
  test('each buildx exporter and a polyarch location become a typed output, and the same locations as before', () => {
    const cases: [string, readonly string[], BuildOutput, string[]][] = [
      ['type=registry,name=reg/app:1', [], { type: 'registry', names: ['reg/app:1'] }, ['reg/app:1']],
      ['type=image,name=reg/a:1;reg/b:2', [], { type: 'registry', names: ['reg/a:1', 'reg/b:2'] }, ['reg/a:1', 'reg/b:2']],
      ['type=registry', ['reg/app:2'], { type: 'registry', names: ['reg/app:2'] }, ['reg/app:2']],
      ['type=oci,dest=out.tar', [], { type: 'oci', dest: 'out.tar' }, ['oci-archive:out.tar:latest']],
      ['type=oci,dest=out.tar', ['reg/app:v1'], { type: 'oci', dest: 'out.tar', name: 'reg/app:v1' }, ['oci-archive:out.tar:v1']],
      ['type=oci,dest=out.tar,name=x/y:z,compression=zstd', [], { type: 'oci', dest: 'out.tar', name: 'x/y:z' }, ['oci-archive:out.tar:z']],
      ['type=docker,dest=d.tar,name=app:1', [], { type: 'docker', dest: 'd.tar', name: 'app:1' }, ['docker-archive:d.tar:app:1']],
      ['type=docker,dest=d.tar', [], { type: 'docker', dest: 'd.tar' }, ['docker-archive:d.tar']],
      // Several -t: every name goes with the archive output; its location carries the first.
      ['type=docker,dest=d.tar', ['reg/app:1', 'reg/app:2'], { type: 'docker', dest: 'd.tar', name: ['reg/app:1', 'reg/app:2'] }, ['docker-archive:d.tar:reg/app:1']],
      ['type=oci,dest=o.tar,name=x/y:1;x/y:2', [], { type: 'oci', dest: 'o.tar', name: ['x/y:1', 'x/y:2'] }, ['oci-archive:o.tar:1']],
      ['type=local,dest=rootfs', [], { type: 'local', dest: 'rootfs' }, ['local:rootfs']],
      ['type=tar,dest=rootfs.tar', [], { type: 'tar', dest: 'rootfs.tar' }, ['tar:rootfs.tar']],
      ['type=oci,dest=dir,tar=false', [], { type: 'oci', dest: 'dir', tar: false }, ['oci:dir:latest']],
      ['type=oci,dest=dir,tar=false,name=reg/app:v2', [], { type: 'oci', dest: 'dir', name: 'reg/app:v2', tar: false }, ['oci:dir:v2']],
      // A layout directory, like the archive, holds every -t's tag: its location carries the first.
      ['type=oci,dest=dir,tar=false', ['reg/app:1', 'reg/app:2'], { type: 'oci', dest: 'dir', name: ['reg/app:1', 'reg/app:2'], tar: false }, ['oci:dir:1']],
      ['type=oci,dest=o.tar,tar=true,oci-mediatypes=true,rewrite-timestamp=true', [], { type: 'oci', dest: 'o.tar' }, ['oci-archive:o.tar:latest']],
      ['type=registry,name=reg/app:1,push=true', [], { type: 'registry', names: ['reg/app:1'] }, ['reg/app:1']],
      ['-', [], { type: 'tar', dest: '-' }, ['tar:-']],
      ['type=docker,dest=-', [], { type: 'docker', dest: '-' }, ['docker-archive:-']],
      ['oci:layout:v1', [], { type: 'location', location: 'oci:layout:v1' }, ['oci:layout:v1']],
      ['localhost:5000/app:1', [], { type: 'location', location: 'localhost:5000/app:1' }, ['localhost:5000/app:1']],
    ];
    for (const [text, tags, output, locations] of cases) {
      assert.deepEqual(parseBuildOutput(text, tags), output, text);
      assert.deepEqual(outputLocations(parseBuildOutput(text, tags)), locations, text);
    }
  });

  test('every bad --output is one USAGE line quoting the flag as given', () => {
    for (const type of ['oci', 'docker', 'local', 'tar']) {
      rejectsWith(() => parseBuildOutput(`type=${type}`, []), `--output type=${type}: needs dest=`);
      rejectsWith(() => parseBuildOutput(`type=${type},dest=`, []), `--output type=${type},dest=: needs dest=`);
    }
    rejectsWith(() => parseBuildOutput('type=registry', []), '--output type=registry: needs name= or -t');
    rejectsWith(() => parseBuildOutput('type=image,name=;', []), '--output type=image,name=;: needs name= or -t');
    rejectsWith(() => parseBuildOutput('type=cacheonly', []), '--output type=cacheonly is not supported (registry, image, oci, docker, local, tar, or a polyarch location)');
    rejectsWith(() => parseBuildOutput('type=', []), '--output type= is not supported (registry, image, oci, docker, local, tar, or a polyarch location)');
    // An attribute the type does not take was ignored before (tar=false wrote a tar anyway).
    rejectsWith(() => parseBuildOutput('type=oci,dest=x.tar,whatever=1', []), '--output type=oci,dest=x.tar,whatever=1: type=oci does not take whatever=1 (it takes dest, name, tar, compression, compression-level)');
    rejectsWith(() => parseBuildOutput('type=docker,dest=x.tar,tar=false', []), '--output type=docker,dest=x.tar,tar=false: type=docker does not take tar=false (it takes dest, name, compression, compression-level)');
    rejectsWith(
      () => parseBuildOutput('type=oci,dest=x.tar,oci-mediatypes=false', []),
      '--output type=oci,dest=x.tar,oci-mediatypes=false: type=oci does not take oci-mediatypes=false (it takes dest, name, tar, compression, compression-level); polyarch always writes oci-mediatypes=true',
    );
    rejectsWith(() => parseBuildOutput('type=image,name=r/a:1,push=false', []), '--output type=image,name=r/a:1,push=false: a registry output pushes; push=false would leave nothing (use type=oci or type=docker for a file)');
    rejectsWith(() => parseBuildOutput('type=oci,dest=d,tar=no', []), '--output type=oci,dest=d,tar=no: tar= is true or false');
    rejectsWith(
      () => parseBuildOutputs(['type=oci,dest=-,tar=false'], { tags: [], platforms: 1 }),
      '--output type=oci,dest=-,tar=false: tar=false writes a layout directory; dest=- (standard output) takes the archive (leave tar=false out)',
    );
    rejectsWith(
      () => parseBuildOutputs(['type=oci,dest=a.tar', 'type=docker,dest=x.tar'], { tags: [], platforms: 2 }),
      '--output type=docker,dest=x.tar: a docker archive holds one platform, not 2; build one --platform (platforms) there, or use type=oci for all',
    );
    rejectsWith(
      () => parseBuildOutputs(['docker-archive:x.tar'], { tags: [], platforms: 3 }),
      '--output docker-archive:x.tar: a docker archive holds one platform, not 3; build one --platform (platforms) there, or use type=oci for all',
    );
    assert.equal(parseBuildOutputs(['type=docker,dest=x.tar'], { tags: [], platforms: 1 }).length, 1, 'one platform fits a docker archive');
  });

  test('compression comes from the flags, else the first output attribute that sets it, with the same errors', () => {
    assert.deepEqual(parseOutputCompression([], {}), { kind: 'gzip' });
    assert.deepEqual(parseOutputCompression(['type=oci,dest=a.tar,compression=zstd,compression-level=9', 'type=oci,dest=b.tar,compression=gzip'], {}), { kind: 'zstd', level: 9 });
    assert.deepEqual(parseOutputCompression(['type=oci,dest=a.tar,compression=zstd'], { compression: 'uncompressed' }), { kind: 'uncompressed' });
    assert.deepEqual(parseOutputCompression(['type=oci,dest=a.tar,compression-level=15'], { compression: 'zstd' }), { kind: 'zstd', level: 15 }, 'the flag kind with the attribute level');
    rejectsWith(() => parseOutputCompression(['type=oci,dest=a.tar,compression=brotli'], {}), 'compression "brotli" is not one of gzip, zstd, uncompressed');
    rejectsWith(() => parseOutputCompression(['type=oci,dest=a.tar,compression-level=12'], {}), 'compression level "12" is out of range for gzip (0–9)');
  });
});
