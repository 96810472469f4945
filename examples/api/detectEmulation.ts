// Reports how this machine runs programs of a few platforms: natively, through a binfmt_misc
// handler (qemu-user), or not at all.
import assert from 'node:assert/strict';
import { detectEmulation, formatPlatform, parsePlatformList } from 'polyarch';

// #region example
const report = await detectEmulation({ platforms: parsePlatformList('linux/amd64,linux/arm64,linux/riscv64') });
for (const { platform, status, handler } of report.platforms) {
  console.log(`${formatPlatform(platform)}: ${status}${handler ? ` via ${handler.interpreter}` : ''}`);
}
// #endregion example

assert.equal(report.platforms.length, 3);
assert.ok(report.platforms.some((p) => p.status === 'native'), 'the machine runs its own programs');
