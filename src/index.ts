// The public library surface: the verbs from ops/, and the model types and parsers they take.
// Everything else is internal.

// Verbs
export { copy, copyImage, type BlobEvent, type BlobTap, type CopyImageOptions, type CopyOptions, type CopyResult, type CopyTransferOptions } from './ops/copy.js';
export { findReferrers, MAX_REFERRER_DEPTH, MAX_REFERRERS, type FindReferrersOptions, type FoundReferrers, type ReferrerLimits } from './ops/referrers.js';
export {
  inspect,
  inspectImage,
  type ImageInspection,
  type IndexEntryInspection,
  type IndexInspection,
  type InspectImageOptions,
  type InspectOptions,
  type InspectReadOptions,
  type Inspection,
} from './ops/inspect.js';
export {
  deleteImage,
  listCatalog,
  listTags,
  login,
  logout,
  type DeleteImageOptions,
  type DeleteImageResult,
  type ListCatalogOptions,
  type ListTagsOptions,
  type LoginCredentials,
  type LoginOptions,
  type LogoutOptions,
} from './ops/registry-admin.js';
export { filterIndexEntries, findDuplicatePlatform, imageEntries, isAttestationEntry } from './ops/select-platforms.js';
export { toLocation, withOpener, type LocationInput } from './ops/session.js';

// Endpoints (one interface over registries, layouts and archives)
export type { Endpoint, EndpointKind, IoOptions } from './endpoint/endpoint.js';
export { createEndpointOpener, defaultRegistryConfigDir, type ConnectionOptions, type EndpointOpener, type OpenMode, type OpenedLocation } from './endpoint/open-endpoint.js';

// Per-registry settings from the files users keep (registries.toml, buildkitd.toml, daemon.json)
export { describeRegistrySettings, type DescribeRegistrySettingsOptions, type RegistrySettingsReport } from './endpoint/open-endpoint.js';
export { formatMirror } from './endpoint/registry-settings/mirror.js';
export type {
  ClientKeypair,
  EffectiveHostSettings,
  RegistryMirror,
  RegistrySettingsFiles,
  SettingsFileRef,
  Sourced,
} from './endpoint/registry-settings/types.js';

// Errors
export { OCI_ERROR_CODES, LOCAL_ERROR_CODES, type ErrorCode, type LocalErrorCode, type OciErrorCode } from './errors/codes.js';
export { PolyarchError, hintFor, isBadInput, isPolyarchError, isRetryable } from './errors/polyarch-error.js';
export { RegistryError, type OciErrorEntry } from './errors/registry-error.js';
export { DigestMismatchError, SizeMismatchError } from './digest/verify-stream.js';

// Model
export { digestOfBytes, isDigest, parseDigest, shortDigest, type Digest } from './digest/digest.js';
export { MediaType, isImageManifest, isIndex, isLayer, isDistributable, dockerToOci, ociToDocker } from './mediatype/mediatype.js';
export { familiarName, formatReference, parseReference, type Reference } from './reference/reference.js';
export { formatLocation, parseLocation, type Location } from './reference/location.js';
export { formatPlatform, formatPlatformFull, parsePlatform, parsePlatformList, type Platform } from './platform/platform.js';
export { normalizePlatform } from './platform/normalize.js';
export { createMatcher, platformFallbacks, samePlatform, selectEntry, uniquePlatforms } from './platform/match.js';
export { detectHostPlatform } from './platform/host.js';
export type { Descriptor } from './image/descriptor.js';
export type { ImageIndex } from './image/index.js';
export type { ImageManifest } from './image/manifest.js';
export type { ImageConfig } from './image/config.js';
export type { RawManifest } from './image/raw-manifest.js';
export { buildIndex, parseImageIndex } from './image/index.js';
export { parseImageManifest } from './image/manifest.js';
export { rawFromBytes, MAX_MANIFEST_SIZE } from './image/raw-manifest.js';

// Multi-arch index assembly
export { assembleIndex, chooseFormat, parseSourceSpec, type AssembleOptions, type AssembleResult, type IndexFormat, type SourceSpec } from './ops/assemble.js';
export {
  manifestAnnotate,
  manifestCreate,
  manifestInspect,
  manifestPush,
  manifestRemove,
  canonicalRef,
  type ManifestAnnotateOptions,
  type ManifestCreateOptions,
  type ManifestCreateResult,
  type ManifestInspectOptions,
  type ManifestInspection,
  type ManifestListOptions,
  type ManifestPushOptions,
  type ManifestRemoveOptions,
  type StoredEntry,
} from './ops/manifest-list.js';
export { expandTemplate, parsePushSpec, readPushSpec, targetsWithTags, type PushSpec } from './ops/spec-file.js';
export { parsePlatformListWithNotices, parsePlatformWithNotice, platformAsWritten, type NoticeHandler } from './ops/platform-input.js';
export { explainMatch, type ExplainMatchOptions, type Explanation } from './ops/explain.js';
export {
  verify,
  verifyBundle,
  verifyImage,
  DEFAULT_MAX_PATHS,
  type Finding,
  type Severity,
  type VerifyRule,
  type VerifiedImage,
  type VerifyCheckOptions,
  type VerifyImageOptions,
  type VerifyOptions,
  type VerifyReport,
  type BundleVerifyReport,
} from './ops/verify.js';

// Offline release bundles: many images for one platform per archive, and pushing them back
export { bundle, readImageList, type BundleArchive, type BundleOptions, type BundleResult } from './ops/bundle.js';
export { bundlePush, pushTarget, type BundlePushOptions, type BundlePushResult, type PushedImage } from './ops/bundle-push.js';
export {
  archiveLocationFor,
  inspectBundle,
  parseBundleManifest,
  readBundleManifest,
  BUNDLE_MANIFEST_NAME,
  type BundleEntry,
  type BundleInspection,
  type BundleManifest,
  type InspectBundleOptions,
} from './ops/bundle-manifest.js';
export { expandOutput, outputPaths } from './ops/bundle-output.js';
export {
  defaultBundleCacheDir,
  pruneBundleCache,
  type ArchiveFormat,
  type BundleCachePruneOptions,
  type BundleCachePruneResult,
  type BundleCachePrunedItem,
} from './endpoint/bundle-cache.js';

// Progress of bytes on the move (copy, index create, manifest push, build, run)
export {
  PROGRESS_INTERVAL_MS,
  meterTransfer,
  observeBytes,
  withPlatform,
  type TransferListener,
  type TransferMeter,
  type TransferOutcome,
  type TransferPhase,
  type TransferProgress,
  type TransferSubject,
} from './progress/transfer.js';

// Embedded registry
export { collectServerGarbage, createRegistryServer, type RegistryServer, type RegistryServerOptions } from './server/server.js';
export type { CollectServerGarbageOptions, RegistryGarbageOptions, RegistryGarbageResult } from './server/garbage.js';

// Build
export { buildImages, defaultBuildCache, type BuildOptions, type BuildResult } from './builder/build.js';
export type { NamedContext } from './builder/named-contexts.js';
export type { StageRootMode } from './builder/stage-root.js';
export { parseSecretSpec, readSecrets, type SecretSpec } from './builder/secrets.js';
export type { BuildProgress, BuildStep, ProgressListener } from './builder/progress.js';
export { parseByteSize, pruneBuildCache, releaseBuildResult, type PruneOptions, type PruneResult, type PrunedItem, type ReleaseBuildResultOptions } from './builder/cache/build-cache.js';
export {
  buildMetadata,
  checkOutputs,
  exportBuild,
  formatBuildOutput,
  outputCompression,
  goesToStdout,
  outputLocations,
  STDOUT_DEST,
  type BuildOutput,
  type DockerOutput,
  type ExportOptions,
  type ExportTargets,
  type LocalOutput,
  type LocationOutput,
  type OciOutput,
  type OutputAttributes,
  type RegistryOutput,
  type TarOutput,
} from './builder/outputs.js';
export { parseCompression, type CompressionKind, type CompressionOptions } from './layer/compression.js';
export { annotationsFor, parseAnnotation, type Annotation, type AnnotationTarget } from './builder/annotations.js';

// Emulation (binfmt_misc handlers for qemu-user), for RUN steps on foreign platforms
export {
  EMULATION_PLATFORMS,
  detectEmulation,
  handlerMatches,
  installEmulation,
  parseBinfmtHandler,
  readBinfmtHandlers,
  registerLine,
  requireEmulation,
  tinyElf,
  uninstallEmulation,
  type BinfmtHandler,
  type BinfmtMiscState,
  type BinfmtOptions,
  type DetectEmulationOptions,
  type EmulationReport,
  type EmulationStatus,
  type InstallEmulationOptions,
  type InstallResult,
  type RequireEmulationOptions,
  type TinyElfOptions,
  type UninstallEmulationOptions,
  type UninstallResult,
} from './builder/executor/binfmt.js';

// Running an image's command on one platform or all of them (`polyarch run`)
export { runImage, type RunImageOptions, type RunImageResult, type RunVolume } from './builder/run-image.js';
export type { Executor, ExtraHost, NetworkMode, RunOptions, RunResult, RunStep, SignalPassing } from './builder/executor/executor.js';
