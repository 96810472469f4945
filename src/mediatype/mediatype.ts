// Media types of OCI and Docker v2.2 content.
// https://github.com/opencontainers/image-spec/blob/v1.1.0/media-types.md
// https://github.com/distribution/distribution/blob/main/docs/content/spec/manifest-v2-2.md
export const MediaType = {
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  OciDescriptor: 'application/vnd.oci.descriptor.v1+json',
  OciLayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerManifestSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  DockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  DockerPlugin: 'application/vnd.docker.plugin.v1+json',
  InTotoLayer: 'application/vnd.in-toto+json',
  DockerAttestationManifest: 'application/vnd.docker.attestation.manifest.v1+json',
} as const;

export type KnownMediaType = (typeof MediaType)[keyof typeof MediaType];

/** Every manifest type a client accepts on resolve (the list type must be there, or a registry may down-convert). */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaType.OciIndex,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.DockerManifest,
];

/** Strips parameters (`; charset=…`) and white space. */
export function baseMediaType(mediaType: string): string {
  const semi = mediaType.indexOf(';');
  return (semi >= 0 ? mediaType.slice(0, semi) : mediaType).trim().toLowerCase();
}

/** Whether the media type (parameters ignored) is an OCI index or a Docker manifest list. */
export function isIndex(mediaType: string): boolean {
  const base = baseMediaType(mediaType);
  return base === MediaType.OciIndex || base === MediaType.DockerManifestList;
}

/** Whether the media type (parameters ignored) is an OCI or Docker schema 2 image manifest. */
export function isImageManifest(mediaType: string): boolean {
  const base = baseMediaType(mediaType);
  return base === MediaType.OciManifest || base === MediaType.DockerManifest;
}

export function isManifest(mediaType: string): boolean {
  return isIndex(mediaType) || isImageManifest(mediaType);
}

export function isSchema1(mediaType: string): boolean {
  const base = baseMediaType(mediaType);
  return base === MediaType.DockerManifestSchema1 || base === MediaType.DockerManifestSchema1Signed;
}

export function isDockerMediaType(mediaType: string): boolean {
  return baseMediaType(mediaType).startsWith('application/vnd.docker.');
}

/** Whether the media type (parameters ignored) is an OCI or Docker layer, in any compression. */
export function isLayer(mediaType: string): boolean {
  const base = baseMediaType(mediaType);
  return base.startsWith('application/vnd.oci.image.layer.') || base.startsWith('application/vnd.docker.image.rootfs.');
}

/** Foreign (Windows base) and non-distributable layers are not pushed; their descriptors carry `urls`. */
export function isDistributable(mediaType: string): boolean {
  const base = baseMediaType(mediaType);
  return !base.startsWith('application/vnd.oci.image.layer.nondistributable.') && !base.startsWith('application/vnd.docker.image.rootfs.foreign.');
}

export type LayerCompression = 'none' | 'gzip' | 'zstd' | 'unknown';

export function layerCompression(mediaType: string): LayerCompression {
  const base = baseMediaType(mediaType);
  if (!isLayer(base)) return 'unknown';
  if (base.endsWith('+gzip') || base.endsWith('.gzip')) return 'gzip';
  if (base.endsWith('+zstd') || base.endsWith('.zstd')) return 'zstd';
  if (base.endsWith('.tar')) return 'none';
  return 'unknown';
}

const DOCKER_TO_OCI: Readonly<Record<string, string>> = {
  [MediaType.DockerManifestList]: MediaType.OciIndex,
  [MediaType.DockerManifest]: MediaType.OciManifest,
  [MediaType.DockerConfig]: MediaType.OciConfig,
  [MediaType.DockerLayer]: MediaType.OciLayer,
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
  [MediaType.DockerLayerZstd]: MediaType.OciLayerZstd,
  [MediaType.DockerForeignLayer]: MediaType.OciLayerNondistributableGzip,
};

const OCI_TO_DOCKER: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(DOCKER_TO_OCI).map(([d, o]) => [o, d]));

/** The OCI equivalent of a Docker media type (unchanged when there is none). */
export function dockerToOci(mediaType: string): string {
  return DOCKER_TO_OCI[baseMediaType(mediaType)] ?? mediaType;
}

/** The Docker equivalent of an OCI media type (unchanged when there is none). */
export function ociToDocker(mediaType: string): string {
  return OCI_TO_DOCKER[baseMediaType(mediaType)] ?? mediaType;
}
