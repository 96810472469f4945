// What `verify` reports: one finding per problem, each under a stable rule id (README lists them).

export type Severity = 'error' | 'warning' | 'info';

export type VerifyRule =
  // index lint
  | 'duplicate-platform'
  | 'unmarked-unknown-platform'
  | 'platform-incomplete'
  | 'config-platform-mismatch'
  | 'arm-without-variant'
  | 'mixed-media-types'
  | 'zstd-layer'
  | 'non-distributable-layer'
  | 'missing-manifest'
  | 'missing-layer'
  | 'required-platform-missing'
  | 'nested-index'
  // binary check
  | 'binary-arch-mismatch'
  | 'interpreter-missing'
  | 'entrypoint-missing'
  | 'entrypoint-not-executable'
  | 'invalid-binary'
  | 'unknown-architecture'
  | 'no-binaries'
  | 'scan-limit';

export interface Finding {
  readonly severity: Severity;
  /** `os/arch[/variant]` of the entry the finding is about; absent for the index as a whole. */
  readonly platform?: string;
  readonly rule: VerifyRule;
  readonly detail: string;
}

export function finding(severity: Severity, rule: VerifyRule, detail: string, platform?: string): Finding {
  return { severity, ...(platform !== undefined ? { platform } : {}), rule, detail };
}
