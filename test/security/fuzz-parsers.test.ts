// Property-based tests over every parser that takes user or network input: random strings and
// mutations of valid inputs. Every outcome is a value or a PolyarchError with the parser's code,
// never another exception; where a formatter exists, parse → format → parse gives the same value,
// and a parsed registry host is one a URL can hold (so it cannot fail later as UNKNOWN).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseInteger } from '../../src/cli/option-parsers.js';
import { parseDigest } from '../../src/digest/digest.js';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { formatLocation, parseLocation } from '../../src/reference/location.js';
import { formatReference, parseReference, parseRegistryHost, registryApiHost } from '../../src/reference/reference.js';
import { normalizePlatform } from '../../src/platform/normalize.js';
import { formatPlatformFull, parsePlatform, parsePlatformList, type Platform } from '../../src/platform/platform.js';
import { execForm, parseDockerfile } from '../../src/builder/dockerfile.js';
import { checkOutputs, outputLocations } from '../../src/builder/outputs.js';
import { parseBuildOutput, parseBuildOutputs, parseOutputCompression } from '../../src/cli/build-outputs.js';
import { parseAnnotation } from '../../src/builder/annotations.js';
import { parseCompression } from '../../src/layer/compression.js';
import { processWord, substitute, SubstitutionError } from '../../src/builder/substitute.js';
import { parseChmod } from '../../src/builder/chmod.js';

const RUNS = 600;

/** Characters that are syntax somewhere in these grammars, plus controls and non-ASCII. */
const SPICY = [':', '/', '@', '.', '-', '_', '[', ']', '%', '(', ')', '+', ',', '=', ' ', '\t', '\n', '\r', '\\', '"', "'", '$', '{', '}', '*', '<', '#', '\u0000', '\u001b', '\u202e', 'é', 'A', 'z', '0', '9', 'sha256:', '..', '--', '::'];
const spicyString = (maxLength = 12) => fc.array(fc.constantFrom(...SPICY), { maxLength }).map((parts) => parts.join(''));
const anyString = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), spicyString(16));

/** A valid input with a few random edits: insertions of syntax characters, deletions, replacements. */
function mutated(seeds: readonly string[]): fc.Arbitrary<string> {
  const edit = fc.tuple(fc.nat(), fc.nat({ max: 3 }), spicyString(3));
  return fc.tuple(fc.constantFrom(...seeds), fc.array(edit, { maxLength: 4 })).map(([seed, edits]) =>
    edits.reduce((text, [at, remove, insert]) => {
      const position = at % (text.length + 1);
      return text.slice(0, position) + insert + text.slice(position + remove);
    }, seed),
  );
}

/** Runs `parse`; a throw must be a PolyarchError with one of `codes`. Returns the value, or undefined. */
function outcome<T>(parse: () => T, codes: readonly string[], input: unknown): T | undefined {
  try {
    return parse();
  } catch (error) {
    assert.ok(isPolyarchError(error), `${JSON.stringify(input)} threw ${String((error as Error)?.stack ?? error)}`);
    assert.ok(codes.includes(error.code), `${JSON.stringify(input)} threw ${error.code}: ${error.message}`);
    assert.equal(typeof error.message, 'string');
    return undefined;
  }
}

const DIGEST = `sha256:${'d4'.repeat(32)}`;
const REFERENCES = ['alpine', 'library/alpine:3.19', 'docker.io/team/app:1.0', `localhost:5000/a/b:tag@${DIGEST}`, '[::1]:5000/x/y', 'registry.example.com/a__b/c-d.e:v_1', `quay.io/x@${DIGEST}`, '127.0.0.1:65535/x'];
const PLATFORMS = ['linux/amd64', 'linux/arm64/v8', 'linux/arm/v7', 'windows(10.0.17763+win32k)/amd64', 'arm64', 'linux', 'darwin/arm64', 'linux(5.4%2B+a+b)/riscv64', 'local'];
const LOCATIONS = ['oci:out', 'oci:out:1.0', 'oci:out:localhost/app:1', `oci:out@${DIGEST}`, `oci-archive:x.tar:app:1@${DIGEST}`, 'docker-archive:x.tar:team/app:1', 'docker://alpine:3', ...REFERENCES];
const DOCKERFILES = [
  'FROM alpine\nRUN echo hi\n',
  'ARG V=1\nFROM --platform=$BUILDPLATFORM alpine:${V} AS build\nCOPY --from=build --chown=1:1 --chmod=755 a /b\n',
  'FROM scratch\nHEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD ["true"]\nEXPOSE 80/tcp 8000-8010\n',
  'FROM x\nCOPY <<EOF /a\nhello\nEOF\nLABEL a="b c" d=e\nENV A=1 B="2"\n',
  'FROM x\nRUN cat <<A 3<<-"B" 4<<C\na\nA\n\tb\n\tB\nc\nC\nRUN 3<<E\'N\'D \\\n  cat <&3\nx\nEND\n',
  '# escape=`\nFROM x\nADD --checksum=sha256:abc --exclude=*.md https://e.x/a /b\nSHELL ["/bin/sh","-c"]\n',
];
const OUTPUTS = ['type=registry,name=reg/app:1', 'type=oci,dest=out.tar,name=app:1', 'type=docker,dest=d.tar', 'type=local,dest=dir', 'type=tar,dest=a.tar', 'type=image,name=a:1;b:2,compression=zstd,compression-level=3', 'oci:out:1'];
const ANNOTATIONS = ['a=b', 'index:a=b', 'manifest[linux/amd64]:k=v', 'manifest-descriptor,manifest:x.y=z', 'index,manifest:k=', 'manifest[linux/arm/v7]:org.opencontainers.image.title=t'];

describe('fuzzing the parsers that read user and network input', () => {
  test('references: a value that round-trips and can become a URL, or INVALID_REFERENCE', () => {
    fc.assert(
      fc.property(fc.oneof(anyString, mutated(REFERENCES)), (text) => {
        const ref = outcome(() => parseReference(text), ['INVALID_REFERENCE'], text);
        if (!ref) return;
        assert.deepEqual(parseReference(formatReference(ref)), ref, text);
        assert.doesNotThrow(() => new URL(`https://${registryApiHost(ref.registry)}/v2/${ref.repository}/manifests/x`), text);
        outcome(() => parseRegistryHost(ref.registry), [], ref.registry);
      }),
      { numRuns: RUNS * 2 },
    );
    fc.assert(fc.property(fc.oneof(anyString, mutated(['localhost:5000', '[::1]:5000', 'reg.example.com'])), (text) => void outcome(() => parseRegistryHost(text), ['INVALID_REFERENCE'], text)), { numRuns: RUNS });
    fc.assert(fc.property(fc.oneof(anyString, mutated([DIGEST, `sha512:${'ab'.repeat(64)}`])), (text) => void outcome(() => parseDigest(text), ['DIGEST_INVALID', 'INVALID_REFERENCE'], text)), { numRuns: RUNS });
  });

  test('platforms: parse → format → parse is the same normalized value, or INVALID_PLATFORM', () => {
    const host: Platform = { os: 'linux', architecture: 'arm', variant: 'v7' };
    fc.assert(
      fc.property(fc.oneof(anyString, mutated(PLATFORMS)), fc.boolean(), (text, withHost) => {
        const platform = outcome(() => parsePlatform(text, withHost ? { host } : {}), ['INVALID_PLATFORM'], text);
        if (!platform) return;
        assert.deepEqual(platform, normalizePlatform(platform), `${text} is normalized`);
        assert.deepEqual(parsePlatform(formatPlatformFull(platform)), platform, `${text} → ${formatPlatformFull(platform)}`);
      }),
      { numRuns: RUNS * 2 },
    );
    fc.assert(fc.property(fc.oneof(anyString, mutated(['linux/amd64,linux/arm64', 'a , b'])), (text) => void outcome(() => parsePlatformList(text), ['INVALID_PLATFORM'], text)), { numRuns: RUNS });
    // normalizePlatform takes what an index says, whatever it is.
    const field = fc.oneof(fc.string({ maxLength: 10 }), spicyString(6));
    fc.assert(
      fc.property(fc.record({ os: field, architecture: field, variant: fc.option(field, { nil: undefined }), 'os.features': fc.option(fc.array(field, { maxLength: 3 }), { nil: undefined }) }), (raw) => {
        const p = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)) as unknown as Platform;
        const once = normalizePlatform(p);
        assert.deepEqual(normalizePlatform(once), once, 'idempotent');
      }),
      { numRuns: RUNS },
    );
  });

  test('locations: a value that round-trips, or INVALID_LOCATION / INVALID_REFERENCE', () => {
    fc.assert(
      fc.property(fc.oneof(anyString, mutated(LOCATIONS), spicyString(10).map((s) => `oci:${s}`), spicyString(10).map((s) => `oci-archive:${s}`)), (text) => {
        const location = outcome(() => parseLocation(text), ['INVALID_LOCATION', 'INVALID_REFERENCE'], text);
        if (!location) return;
        assert.deepEqual(parseLocation(formatLocation(location)), location, `${text} → ${formatLocation(location)}`);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  test('Dockerfiles and their flags: parsed, or one USAGE error naming file:line', () => {
    const keyword = fc.constantFrom('FROM', 'ARG', 'ENV', 'LABEL', 'COPY', 'ADD', 'RUN', 'HEALTHCHECK', 'EXPOSE', 'SHELL', 'CMD', 'ONBUILD', 'WORKDIR', 'USER', 'VOLUME', 'from', 'BOGUS', '');
    const flag = fc.tuple(fc.constantFrom('from', 'chown', 'chmod', 'platform', 'interval', 'retries', 'exclude', 'checksum', 'parents', 'link', ''), fc.option(spicyString(6), { nil: undefined })).map(([name, value]) => (value === undefined ? `--${name}` : `--${name}=${value}`));
    const instruction = fc.tuple(keyword, fc.array(flag, { maxLength: 3 }), spicyString(10)).map(([k, flags, rest]) => [k, ...flags, rest].join(' '));
    const dockerfile = fc.oneof(
      fc.array(instruction, { maxLength: 6 }).map((lines) => lines.join('\n')),
      fc.array(instruction, { maxLength: 5 }).map((lines) => ['FROM x', ...lines].join('\n')),
      mutated(DOCKERFILES),
      anyString,
    );
    fc.assert(
      fc.property(dockerfile, (text) => {
        const parsed = outcome(() => parseDockerfile(text, 'Dockerfile'), ['USAGE'], text);
        if (!parsed) return;
        for (const i of parsed.instructions) {
          assert.ok(Number.isInteger(i.line) && i.line >= 1);
          for (const values of i.flags.values()) for (const value of values) assert.equal(typeof value, 'string');
          // ENV/ARG/LABEL values as written (quotes kept for processWord): text, or no value at all.
          for (const [name, value] of i.properties) assert.ok(typeof name === 'string' && (value === undefined || typeof value === 'string'));
        }
      }),
      { numRuns: RUNS },
    );
    fc.assert(fc.property(fc.oneof(anyString, mutated(['["a","b"]', '[]', '["x"'])), (text) => void execForm(text)), { numRuns: RUNS });
    fc.assert(
      fc.property(fc.oneof(anyString, mutated(['$A ${B:-x} ${C:+y}', 'a\\$b', '${A%%.*}'])), (text) => {
        try {
          substitute(text, new Map([['A', '1'], ['B', 'two']]));
        } catch (error) {
          // substitute's own error: build.ts turns it into a USAGE line with file:line.
          assert.ok(error instanceof SubstitutionError, `${JSON.stringify(text)} threw ${String(error)}`);
        }
      }),
      { numRuns: RUNS },
    );
    // ENV/ARG/LABEL values under BuildKit's quote rules: a string, or SubstitutionError (an unclosed quote or ${).
    fc.assert(
      fc.property(fc.oneof(anyString, mutated([`'$A' "\\$B \\"x\\"" \\$C`, `\${A:-"a b"}'\\'`, `"\${B/o/'z'}"`, 'end\\'])), (text) => {
        for (const escape of ['\\', '`']) {
          try {
            assert.equal(typeof processWord(text, new Map([['A', '1'], ['B', 'two']]), escape), 'string');
          } catch (error) {
            assert.ok(error instanceof SubstitutionError, `${JSON.stringify(text)} threw ${String(error)}`);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  test('buildx --output, --annotation and compression flags: a value, or a coded error', () => {
    fc.assert(
      fc.property(fc.oneof(anyString, mutated(OUTPUTS), spicyString(12).map((s) => `type=${s}`)), fc.array(fc.constantFrom('reg/app:1', 'a', 'Bad:Tag'), { maxLength: 2 }), fc.integer({ min: 1, max: 3 }), (output, tags, platforms) => {
        const parsed = outcome(() => parseBuildOutput(output, tags), ['USAGE'], output);
        if (parsed) outcome(() => outputLocations(parsed), ['USAGE', 'INVALID_REFERENCE'], output);
        // parseBuildOutputs checks each output as the build will, so a bad name= or -t is INVALID_REFERENCE.
        const all = outcome(() => parseBuildOutputs([output], { tags, platforms }), ['USAGE', 'INVALID_REFERENCE'], output);
        if (all) outcome(() => checkOutputs(all, platforms), ['USAGE', 'INVALID_REFERENCE'], output);
        outcome(() => parseOutputCompression([output], {}), ['USAGE'], output);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.oneof(anyString, mutated(ANNOTATIONS)), fc.constantFrom('manifest', 'index', 'manifest-descriptor'), (text, target) => {
        const annotation = outcome(() => parseAnnotation(text, target as 'manifest'), ['USAGE'], text);
        if (annotation) assert.ok(annotation.key !== '' && annotation.targets.length > 0);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.option(fc.oneof(anyString, fc.constantFrom('gzip', 'zstd', 'uncompressed', 'ZSTD')), { nil: undefined }), fc.option(fc.oneof(anyString, fc.integer({ min: -2, max: 30 }).map(String)), { nil: undefined }), (kind, level) => {
        const options = outcome(() => parseCompression(kind, level), ['USAGE'], [kind, level]);
        if (options?.level !== undefined) assert.ok(Number.isInteger(options.level));
      }),
      { numRuns: RUNS },
    );
  });

  test('numeric CLI flags: a whole number in range, or USAGE', () => {
    fc.assert(
      fc.property(fc.oneof(anyString, fc.integer({ min: -5, max: 100 }).map(String), mutated(['6', '64', '0'])), (text) => {
        const value = outcome(() => parseInteger(text, '--concurrency', 1, 64), ['USAGE'], text);
        if (value !== undefined) assert.ok(Number.isSafeInteger(value) && value >= 1 && value <= 64 && String(value) === text.replace(/^0+(?=\d)/, ''), text);
      }),
      { numRuns: RUNS },
    );
  });
  test('COPY --chmod values: a change that keeps every mode within 12 bits, or one "invalid chmod parameter" line', () => {
    const CHMODS = ['+x', 'u+x', 'go-w,a+X', 'u=rwx,go=rx', 'g=u', 'a=rX', '0755', '4755', '+t', 'ug+s', 'o=g-w'];
    const value = fc.oneof(mutated(CHMODS), fc.array(fc.constantFrom('u', 'g', 'o', 'a', '+', '-', '=', 'r', 'w', 'x', 'X', 's', 't', ',', '0', '7', '8'), { maxLength: 24 }).map((p) => p.join('')), anyString);
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 0o7777 }), fc.boolean(), (text, mode, isDirectory) => {
        let change;
        try {
          change = parseChmod(text);
        } catch (error) {
          assert.ok(error instanceof Error && error.message.startsWith(`invalid chmod parameter: ${JSON.stringify(text)}`) && !error.message.includes('\n'), `${JSON.stringify(text)} threw ${String(error)}`);
          return;
        }
        const after = change(mode, isDirectory);
        assert.ok(Number.isInteger(after) && after >= 0 && after <= 0o7777, `${JSON.stringify(text)} on ${mode.toString(8)} gave ${after}`);
      }),
      { numRuns: RUNS },
    );
  });
});
