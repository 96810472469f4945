// RUN --mount values and --secret specs as BuildKit and buildx read them: what must parse (and
// to what), and what must fail with one line naming the Dockerfile line.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseMount } from '../../src/builder/instructions/run-flags.js';
import { MAX_SECRET_BYTES, parseSecretSpec, readSecrets } from '../../src/builder/secrets.js';
import { PolyarchError } from '../../src/errors/polyarch-error.js';

const sub = (v: string) => v.replaceAll('$DIR', '/opt');
const parse = (text: string) => parseMount(text, '/srv/app', sub, 'Dockerfile', 3);

describe('RUN --mount values', () => {
  test('good values', () => {
    const good: [string, unknown][] = [
      ['target=/src', { type: 'bind', target: '/src', source: '/', readWrite: false }],
      ['type=bind,src=app,dst=rel,rw', { type: 'bind', target: '/srv/app/rel', source: 'app', readWrite: true }],
      ['type=bind,from=builder,source=/out,target=/o,readonly=false', { type: 'bind', target: '/o', source: '/out', from: 'builder', readWrite: true }],
      ['type=cache,target=$DIR/cache', { type: 'cache', target: '/opt/cache', id: '/opt/cache', readOnly: false, sharing: 'shared', source: '/' }],
      ['type=cache,id=go,target=/root/.cache/go-build,sharing=locked,mode=0700,uid=1000,gid=1000', { type: 'cache', target: '/root/.cache/go-build', id: 'go', readOnly: false, sharing: 'locked', source: '/', mode: 0o700, uid: 1000, gid: 1000 }],
      ['type=tmpfs,target=/t,size=64m', { type: 'tmpfs', target: '/t', sizeBytes: 64 * 1024 * 1024 }],
      ['type=secret,id=aws', { type: 'secret', id: 'aws', target: '/run/secrets/aws', required: false, mode: 0o400 }],
      ['type=secret,id=tok,env=TOKEN', { type: 'secret', id: 'tok', env: 'TOKEN', required: false, mode: 0o400 }],
      ['type=secret,id=tok,env=TOKEN,target=/etc/tok,required,mode=0440', { type: 'secret', id: 'tok', target: '/etc/tok', env: 'TOKEN', required: true, mode: 0o440 }],
      ['type=secret,target=/root/.npmrc,required=true', { type: 'secret', id: '.npmrc', target: '/root/.npmrc', required: true, mode: 0o400 }],
      ['"type=bind","target=/a,b"', { type: 'bind', target: '/a,b', source: '/', readWrite: false }],
    ];
    for (const [text, expected] of good) assert.deepEqual(parse(text), expected, text);
  });

  test('bad values: one line naming the Dockerfile line and what was wrong', () => {
    const bad: [string, RegExp][] = [
      ['type=ssh', /RUN --mount=type=ssh is not supported/],
      ['type=nfs,target=/x', /unknown mount type "nfs"/],
      ['type=bind', /type=bind needs a target/],
      ['type=bind,target=/', /the target cannot be \//],
      ['type=bind,target=/x,size=1m', /size is not an option of type=bind mounts/],
      ['type=tmpfs,target=/x,uid=1', /uid is not an option of type=tmpfs mounts/],
      ['type=cache,target=/x,sharing=sometimes', /unknown sharing "sometimes"/],
      ['type=cache,target=/x,mode=999', /invalid value "999" for mode/],
      ['type=cache,target=/x,uid=-1', /invalid value "-1" for uid/],
      ['type=tmpfs,target=/x,size=lots', /invalid size "lots"/],
      ['type=secret,env=1X,id=a', /env="1X" is not a variable name/],
      ['type=secret,id=a,source=b', /give id or source, not both/],
      ['type=secret', /type=secret needs an id/],
      ['target=/x,bogus', /option "bogus" must be a key=value pair/],
      ['target=/x,ro=maybe', /invalid value "maybe" for ro/],
      ['"target=/x', /unterminated quote/],
    ];
    for (const [text, expected] of bad) {
      assert.throws(() => parse(text), (error: unknown) => {
        assert.ok(error instanceof PolyarchError, text);
        assert.equal(error.code, 'USAGE');
        assert.match(error.message, /^Dockerfile:3: /, text);
        assert.match(error.message, expected, text);
        assert.ok(!error.message.includes('\n'));
        return true;
      });
    }
  });
});

describe('--secret specs (buildx grammar)', () => {
  test('good and bad', () => {
    const good: [string, unknown][] = [
      ['id=a,src=/f', { id: 'a', file: '/f' }],
      ['id=a,source=/f,type=file', { id: 'a', file: '/f' }],
      ['id=a,env=VAR', { id: 'a', env: 'VAR' }],
      ['type=env,id=a,src=VAR', { id: 'a', env: 'VAR' }],
      ['type=env,id=A', { id: 'A', env: 'A' }],
      ['id=a', { id: 'a' }],
    ];
    for (const [text, expected] of good) assert.deepEqual(parseSecretSpec(text), expected, text);
    const bad: [string, RegExp][] = [
      ['src=/f', /needs id=/],
      ['id=a,src=/f,env=V', /give src or env, not both/],
      ['id=a,type=ssh', /type must be file or env/],
      ['id=a,colour=red', /unknown key "colour"/],
      ['id=a,loose', /"loose" must be a key=value pair/],
    ];
    for (const [text, expected] of bad) assert.throws(() => parseSecretSpec(text), expected, text);
  });
});

describe('--secret values', () => {
  test('a secret larger than 500 KiB is refused in one line, from a file that never ends or from a variable', async () => {
    await assert.rejects(readSecrets(['id=big,src=/dev/zero'], { env: {} }), (error: PolyarchError) => {
      assert.equal(error.code, 'USAGE');
      assert.equal(error.message, `--secret id=big: "/dev/zero" is larger than ${MAX_SECRET_BYTES} bytes`);
      return true;
    });
    await assert.rejects(readSecrets(['id=big,env=BIG'], { env: { BIG: 'x'.repeat(MAX_SECRET_BYTES + 1) } }), /--secret id=big: the value of BIG is larger than 512000 bytes/);
    const fits = await readSecrets(['id=ok,env=OK'], { env: { OK: 'x'.repeat(MAX_SECRET_BYTES) } });
    assert.equal(fits.ok!.length, MAX_SECRET_BYTES);
  });
});
