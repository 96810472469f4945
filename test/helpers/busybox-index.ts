// A multi-arch busybox base image for build tests: one single-layer image per architecture (the
// busybox root plus /etc/base-file naming the architecture), stored as one index at `location`.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { storeBaseIndex } from './base-images.js';
import { BUSYBOX_ARCHES, copyBusyboxRoot, type BusyboxArch } from './busybox.js';

export async function storeBusyboxIndex(location: string, arches: readonly BusyboxArch[], workDir: string): Promise<void> {
  const parts = [];
  for (const arch of arches) {
    const root = await copyBusyboxRoot(arch, join(workDir, `busybox-${arch}`));
    await writeFile(join(root, 'etc', 'base-file'), `from the ${arch} base\n`);
    parts.push({ platform: BUSYBOX_ARCHES[arch].platform, dir: root });
  }
  await storeBaseIndex(location, parts, { config: { Env: ['PATH=/bin'] } });
}
