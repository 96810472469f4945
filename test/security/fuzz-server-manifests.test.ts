// Property-based: manifests and indexes, valid ones mutated at random (fields, types, sizes,
// nesting, unicode, huge numbers) plus raw junk, PUT to the in-process registry. Every answer is a
// 201 or a 4xx with an OCI error body — never a 500, never a crash — and whatever was accepted
// reads back byte-identical under its digest and its tag.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { ociCode, rawRequest } from '../helpers/raw-http.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const CONFIG = Buffer.from('{"architecture":"arm64","os":"linux"}');
const LAYER = Buffer.from('layer bytes for the fuzzer');
const REPO = 'fuzz/app';

let server: EmbeddedHandle;
let image: Record<string, unknown>;
let imageBytes: Buffer;

before(async () => {
  server = await startEmbedded();
  for (const blob of [CONFIG, LAYER]) {
    const answer = await rawRequest(`${server.url}/v2/${REPO}/blobs/uploads/?digest=${sha(blob)}`, { method: 'POST', body: blob, headers: { 'content-length': blob.length } });
    assert.equal(answer.status, 201);
  }
  image = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(CONFIG), size: CONFIG.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(LAYER), size: LAYER.length, annotations: { 'org.example': 'x' } }],
    annotations: { 'org.opencontainers.image.title': 'fuzz' },
  };
  imageBytes = Buffer.from(JSON.stringify(image));
  assert.equal((await rawRequest(`${server.url}/v2/${REPO}/manifests/base`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: imageBytes })).status, 201);
});
after(() => server?.stop());

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', '\r\n', '\u0000', '<script>alert(1)</script>', 'sha256:', `${'sha256:'}${'a'.repeat(64)}\n`, 'sha512:zz', '\u202e\u2028', '../../etc/passwd', 'x'.repeat(5000)),
);
const hostileNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(-1, 0, 1.5, 2 ** 53, 2 ** 64, -0, 1e308, Number.MAX_SAFE_INTEGER));
const anyValue: fc.Arbitrary<Json> = fc.oneof(
  { depthSize: 'small' },
  hostileString,
  hostileNumber.filter((n) => Number.isFinite(n)),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);

/** Paths of every field in a JSON value (objects and arrays), for picking one to mutate. */
function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  const keys: (string | number)[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return [prefix, ...keys.flatMap((k) => paths((value as Record<string | number, Json>)[k]!, [...prefix, k]))];
}

type Mutation = { kind: 'set'; value: Json } | { kind: 'delete' } | { kind: 'wrap'; depth: number } | { kind: 'add'; key: string; value: Json } | { kind: 'duplicate' } | { kind: 'append'; text: string };

function mutate(base: Json, path: (string | number)[], mutation: Mutation): Json {
  const copy = structuredClone(base);
  if (path.length === 0) return mutation.kind === 'set' ? mutation.value : copy;
  let parent = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  switch (mutation.kind) {
    case 'set':
      parent[last] = mutation.value;
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete parent[last];
      break;
    case 'wrap': {
      let nested: Json = parent[last]!;
      for (let i = 0; i < mutation.depth; i++) nested = i % 2 ? { v: nested } : [nested];
      parent[last] = nested;
      break;
    }
    case 'add': {
      const target = parent[last];
      if (target && typeof target === 'object' && !Array.isArray(target)) (target as Record<string, Json>)[mutation.key] = mutation.value;
      break;
    }
    case 'append': {
      // Small edits of strings that are otherwise right: a digest or media type with a CR, a space, a NUL.
      if (typeof parent[last] === 'string') parent[last] = `${parent[last] as string}${mutation.text}`;
      break;
    }
    case 'duplicate': {
      const target = parent[last];
      if (Array.isArray(target) && target.length > 0) for (let i = 0; i < 50; i++) target.push(structuredClone(target[0]!));
      break;
    }
  }
  return copy;
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), value: anyValue }),
  fc.record({ kind: fc.constant('delete' as const) }),
  fc.record({ kind: fc.constant('wrap' as const), depth: fc.integer({ min: 1, max: 200 }) }),
  fc.record({ kind: fc.constant('add' as const), key: fc.oneof(hostileString, fc.constantFrom('subject', 'urls', 'platform', 'artifactType', 'annotations', '__proto__')), value: anyValue }),
  fc.record({ kind: fc.constant('duplicate' as const) }),
  fc.record({ kind: fc.constant('append' as const), text: fc.constantFrom('\r\nx-injected: 1', '\n', '\u0000', ' ', 'a', '\u00e9', ';p=1') }),
);

function baseIndex(): Json {
  return {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{ mediaType: OCI_MANIFEST, digest: sha(imageBytes), size: imageBytes.length, platform: { architecture: 'arm64', os: 'linux', variant: 'v8', 'os.features': ['x'] }, annotations: { a: 'b' } }],
    subject: { mediaType: OCI_MANIFEST, digest: sha(imageBytes), size: imageBytes.length },
  };
}

/** A document: one of the valid bases with 1–3 mutations applied, or raw junk. */
const documents: fc.Arbitrary<{ text: string; contentType: string; tag: string | undefined }> = fc
  .tuple(
    fc.oneof(
      fc.constant<'image' | 'index' | 'junk'>('image'),
      fc.constant<'image' | 'index' | 'junk'>('index'),
      fc.constant<'image' | 'index' | 'junk'>('junk'),
    ),
    fc.array(fc.tuple(fc.nat(), mutation), { minLength: 1, maxLength: 3 }),
    fc.constantFrom(OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST, '', 'application/json', 'text/html', 'application/vnd.oci.image.manifest.v1+json; charset=utf-8'),
    fc.option(fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,20}$/), { nil: undefined }),
    fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a).toString('latin1'))),
  )
  .map(([kind, mutations, contentType, tag, junk]) => {
    if (kind === 'junk') return { text: junk, contentType, tag };
    let doc: Json = kind === 'image' ? (structuredClone(image) as Json) : baseIndex();
    for (const [pick, m] of mutations) {
      const all = paths(doc);
      doc = mutate(doc, all[pick % all.length]!, m);
    }
    // Most of the time the Content-Type agrees with the body, so mutations get past that check.
    const declared = doc && typeof doc === 'object' && !Array.isArray(doc) && typeof doc.mediaType === 'string' && /^[\x21-\x7e]+$/.test(doc.mediaType) ? doc.mediaType : contentType;
    return { text: JSON.stringify(doc), contentType: tag && tag.length % 3 === 0 ? contentType : declared, tag };
  });

/** What every accepted manifest must look like, whatever the fuzzer did to it (item 4: sizes are whole numbers). */
function assertWellFormed(doc: Record<string, unknown>): void {
  assert.equal(doc.schemaVersion, 2);
  const descriptors = [doc.config, ...(Array.isArray(doc.layers) ? doc.layers : []), ...(Array.isArray(doc.manifests) ? doc.manifests : []), ...(doc.subject === undefined ? [] : [doc.subject])];
  assert.ok(Array.isArray(doc.layers) || Array.isArray(doc.manifests), 'layers or manifests');
  for (const d of descriptors.filter((x) => x !== undefined) as Record<string, unknown>[]) {
    assert.equal(typeof d.mediaType, 'string', 'descriptor mediaType');
    assert.ok(typeof d.size === 'number' && Number.isSafeInteger(d.size) && d.size >= 0, `descriptor size ${String(d.size)}`);
    assert.match(String(d.digest), /^sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$/);
  }
}

test('fuzz: any manifest PUT is 201 or a 4xx with an OCI error body, and what is accepted reads back byte-identical', async () => {
  let accepted = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(documents, async ({ text, contentType, tag }) => {
      const body = Buffer.from(text);
      const reference = tag ?? sha(body);
      const answer = await rawRequest(`${server.url}/v2/${REPO}/manifests/${reference}`, {
        method: 'PUT',
        headers: { ...(contentType ? { 'content-type': contentType } : {}), 'content-length': body.length },
        body,
      });
      if (answer.status === 201) {
        accepted++;
        const digest = String(answer.headers['docker-content-digest']);
        assert.equal(digest, sha(body));
        assertWellFormed(JSON.parse(text) as Record<string, unknown>);
        for (const ref of [digest, ...(tag ? [tag] : [])]) {
          const back = await rawRequest(`${server.url}/v2/${REPO}/manifests/${ref}`);
          assert.equal(back.status, 200, `GET ${ref} after 201`);
          assert.ok(back.body.equals(body), `GET ${ref} gives the bytes that were PUT`);
        }
      } else {
        refused++;
        assert.ok(answer.status >= 400 && answer.status < 500, `status ${answer.status} for ${body.toString().slice(0, 300)}: ${answer.body.toString().slice(0, 300)}`);
        assert.ok(ociCode(answer) !== undefined, `an OCI error body for ${answer.status}: ${answer.body.toString().slice(0, 200)}`);
      }
    }),
    { numRuns: 200, seed: Number(process.env.FUZZ_SEED ?? 1), endOnFailure: true, includeErrorInReport: true },
  );
  // The server is still up, and the page's API still answers over whatever got stored.
  assert.equal((await rawRequest(`${server.url}/v2/`)).status, 200);
  assert.equal((await rawRequest(`${server.url}/v2/${REPO}/tags/list`)).status, 200);
  assert.equal((await rawRequest(`${server.url}/v2/${REPO}/referrers/${sha(imageBytes)}`)).status, 200);
  assert.ok(accepted > 0 && refused > 0, `both outcomes exercised (accepted ${accepted}, refused ${refused})`);
});
