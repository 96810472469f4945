// The package's public surface: what `import { … } from 'polyarch'` offers, name by name. A name
// added or dropped is a change to the library's contract, so it must show up here in the diff; and
// nothing of the CLI (argument parsing, printing, exit codes) is part of it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const EXPORTS = [
  'BUNDLE_MANIFEST_NAME', 'DEFAULT_MAX_PATHS', 'DigestMismatchError', 'EMULATION_PLATFORMS', 'LOCAL_ERROR_CODES',
  'MAX_MANIFEST_SIZE', 'MAX_REFERRERS', 'MAX_REFERRER_DEPTH', 'MediaType', 'OCI_ERROR_CODES', 'PROGRESS_INTERVAL_MS',
  'PolyarchError', 'RegistryError', 'STDOUT_DEST', 'SizeMismatchError', 'annotationsFor', 'archiveLocationFor', 'assembleIndex',
  'buildImages', 'buildIndex', 'buildMetadata', 'bundle', 'bundlePush', 'canonicalRef', 'checkOutputs', 'chooseFormat',
  'collectServerGarbage', 'copy', 'copyImage', 'createEndpointOpener', 'createMatcher', 'createRegistryServer',
  'defaultBuildCache', 'defaultBundleCacheDir', 'defaultRegistryConfigDir', 'deleteImage', 'describeRegistrySettings',
  'detectEmulation', 'detectHostPlatform', 'digestOfBytes', 'dockerToOci', 'expandOutput', 'expandTemplate',
  'explainMatch', 'exportBuild', 'familiarName', 'filterIndexEntries', 'findDuplicatePlatform', 'findReferrers',
  'formatBuildOutput', 'formatLocation', 'formatMirror', 'formatPlatform', 'formatPlatformFull', 'formatReference', 'goesToStdout', 'handlerMatches',
  'hintFor', 'imageEntries', 'inspect', 'inspectBundle', 'inspectImage', 'installEmulation', 'isAttestationEntry',
  'isBadInput', 'isDigest', 'isDistributable', 'isImageManifest', 'isIndex', 'isLayer', 'isPolyarchError',
  'isRetryable', 'listCatalog', 'listTags', 'login', 'logout', 'manifestAnnotate', 'manifestCreate', 'manifestInspect',
  'manifestPush', 'manifestRemove', 'meterTransfer', 'normalizePlatform', 'observeBytes', 'ociToDocker',
  'outputCompression', 'outputLocations', 'outputPaths', 'parseAnnotation', 'parseBinfmtHandler', 'parseBundleManifest',
  'parseByteSize', 'parseCompression', 'parseDigest', 'parseImageIndex', 'parseImageManifest', 'parseLocation',
  'parsePlatform', 'parsePlatformList', 'parsePlatformListWithNotices', 'parsePlatformWithNotice', 'parsePushSpec', 'parseReference', 'parseSecretSpec', 'parseSourceSpec',
  'platformAsWritten', 'platformFallbacks', 'pruneBuildCache', 'pruneBundleCache', 'pushTarget', 'rawFromBytes', 'readBinfmtHandlers',
  'readBundleManifest', 'readImageList', 'readPushSpec', 'readSecrets', 'registerLine', 'releaseBuildResult',
  'requireEmulation', 'runImage', 'samePlatform', 'selectEntry', 'shortDigest', 'targetsWithTags', 'tinyElf',
  'toLocation', 'uninstallEmulation', 'uniquePlatforms', 'verify', 'verifyBundle', 'verifyImage', 'withOpener', 'withPlatform',
];

const PACKAGE = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { exports: Record<string, { import: string }> };

test('the package exports exactly the library verbs and model, as listed', async () => {
  assert.deepEqual(Object.keys(PACKAGE.exports), ['.'], 'one entry point: the library');
  const entry = fileURLToPath(new URL(`../../../${PACKAGE.exports['.']!.import}`, import.meta.url));
  const library = (await import(entry)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(library).sort(), EXPORTS);
});

test('nothing of the CLI is exported', async () => {
  const entry = fileURLToPath(new URL(`../../../${PACKAGE.exports['.']!.import}`, import.meta.url));
  const text = readFileSync(entry, 'utf8');
  assert.doesNotMatch(text, /from '\.\/cli\//, 'the entry point re-exports no CLI module');
  for (const name of EXPORTS) assert.doesNotMatch(name, /^(?:run|parse)?(?:Cli|Command|Program|Action)|ExitCode|printTable|printJson/, `${name} looks like a CLI helper`);
});
