// Which platforms of a build start first. A RUN step under qemu takes several times as long as
// the same step run natively (the RUN bench's gcc: about 4× here), so a build for several
// platforms ends when its emulated platforms do. Until their first step runs, though, their work
// is base pulls, layer scans and unpacking, on the one main thread the other platforms' work
// shares: started together, an arm64 compile began only after the amd64 base was unpacked too. So
// the other platforms wait until each emulated one has its first RUN step's root ready (or the
// step cached, or has ended), and then do their own preparation while the emulated steps run.
import { normalizePlatform } from '../platform/normalize.js';
import { formatPlatform, type Platform } from '../platform/platform.js';

/** A platform's name with defaults filled in (`linux/arm64/v8` and `linux/arm64` are one). */
function nameOf(platform: Platform): string {
  return formatPlatform(normalizePlatform(platform));
}

/** Whether the build machine runs `platform`'s programs through an emulator, by architecture (a kernel may run some, i386 on amd64, itself: it then only goes first). */
function emulatedOn(build: Platform, platform: Platform): boolean {
  return normalizePlatform(platform).architecture !== normalizePlatform(build).architecture;
}

export class EmulatedFirst {
  /** Each emulated platform's signal that its steps are underway, by its name. */
  readonly #underway = new Map<string, { readonly promise: Promise<void>; readonly resolve: () => void }>();

  /** `runOn`: the platforms RUN steps run on; only those of `targets` can go first. */
  constructor(targets: readonly Platform[], runOn: readonly Platform[], build: Platform) {
    const running = new Set(runOn.map(nameOf));
    for (const target of targets) {
      const name = nameOf(target);
      if (!running.has(name) || !emulatedOn(build, target) || this.#underway.has(name)) continue;
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#underway.set(name, { promise, resolve });
    }
  }

  /** Resolves when `platform` may start: at once for an emulated one, else once every emulated one is underway. */
  async turn(platform: Platform): Promise<void> {
    if (this.#underway.has(nameOf(platform))) return;
    await Promise.all([...this.#underway.values()].map((u) => u.promise));
  }

  /** Says `platform`'s steps are underway (or that it ended, whichever way); again is harmless. */
  underway(platform: Platform): void {
    this.#underway.get(nameOf(platform))?.resolve();
  }
}
