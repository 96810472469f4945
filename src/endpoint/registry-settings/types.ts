// Per-registry settings as read from the files users already keep (BuildKit's buildkitd.toml,
// docker's daemon.json, polyarch's own registries.toml), each value with where it came from.

/** A value and the place that set it: `FILE registry."host".ca`, `FILE insecure-registries[0]`, `--insecure`. */
export interface Sourced<T> {
  readonly value: T;
  readonly source: string;
}

/** A client certificate for mutual TLS (`[[registry."host".keypair]]`). */
export interface ClientKeypair {
  readonly cert: string;
  readonly key: string;
}

/**
 * A pull-through mirror of a registry: `host[:port]` with an optional repository prefix
 * (`mirror.example/proxy` serves `/v2/proxy/<repo>/…`, as BuildKit reads it).
 */
export interface RegistryMirror {
  readonly host: string;
  /** Prepended to the repository name on the mirror; '' for none. */
  readonly prefix: string;
  /** The mirror was written as an `http://` URL: plain HTTP. */
  readonly plainHttp: boolean;
}

/** What one file says about one registry host; a field is absent when the file does not set it. */
export interface HostSection {
  /** Speak plain HTTP to this registry. */
  readonly http?: Sourced<boolean>;
  /** Accept any TLS certificate, and plain HTTP when TLS is not spoken. */
  readonly insecure?: Sourced<boolean>;
  /** Extra CA certificates (PEM files) trusted besides the system roots. */
  readonly ca?: Sourced<readonly string[]>;
  readonly keypairs?: Sourced<readonly ClientKeypair[]>;
  /** Tried in order for pulls before the registry itself. */
  readonly mirrors?: Sourced<readonly RegistryMirror[]>;
}

export type SettingsFileKind = 'polyarch' | 'buildkitd' | 'docker-daemon';

/** An insecure-registries CIDR entry of daemon.json: every registry whose address falls in it. */
export interface InsecureNetwork {
  readonly cidr: string;
  readonly source: string;
}

/** One settings file after reading: empty when an optional file is absent. */
export interface SettingsLayer {
  readonly kind: SettingsFileKind;
  readonly path: string;
  readonly found: boolean;
  readonly hosts: ReadonlyMap<string, HostSection>;
  readonly insecureNetworks: readonly InsecureNetwork[];
}

/** Every file read, highest precedence first (polyarch, buildkitd, daemon.json). */
export interface RegistrySettings {
  readonly layers: readonly SettingsLayer[];
}

/** The settings in force for one host after precedence (flags > polyarch > buildkitd > daemon.json). */
export interface EffectiveHostSettings extends HostSection {
  readonly host: string;
}

/** A settings file to read; `optional` for a default location, where absence just means no settings. */
export interface SettingsFileRef {
  readonly path: string;
  readonly optional?: boolean;
}

export interface RegistrySettingsFiles {
  /** polyarch's own file (`registries.toml`, in buildkitd.toml's `[registry."host"]` shape). */
  readonly polyarch?: SettingsFileRef;
  /** BuildKit's buildkitd.toml (only its `[registry."host"]` sections are read). */
  readonly buildkitd?: SettingsFileRef;
  /** docker's daemon.json (`insecure-registries`, `registry-mirrors`). */
  readonly dockerDaemon?: SettingsFileRef;
}
