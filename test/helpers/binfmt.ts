// Foreign platforms in the tests run through polyarch's own binfmt_misc handling
// (installEmulation, what `polyarch binfmt --install` does), so no second copy of the handler
// tables lives in the tests. Platforms the kernel runs itself are left alone; some amd64 kernels
// run no i386, which then gets a qemu handler like any foreign platform.
import { installEmulation } from '../../src/builder/executor/binfmt.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { BUSYBOX_ARCHES, type BusyboxArch } from './busybox.js';

/** Makes each arch's programs runnable here; says, per arch, whether the kernel runs them itself. */
export async function ensureEmulation(arches: readonly BusyboxArch[]): Promise<Map<BusyboxArch, 'native' | 'emulated'>> {
  const results = await installEmulation({ platforms: arches.map((arch) => parsePlatform(BUSYBOX_ARCHES[arch].platform)) });
  return new Map(arches.map((arch, i) => [arch, results[i]?.action === 'native' ? 'native' : 'emulated']));
}
