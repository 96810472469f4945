// Checks, before any work, that this machine can run programs of the platforms a job needs.
import assert from 'node:assert/strict';
import { detectHostPlatform, isPolyarchError, parsePlatform, requireEmulation } from 'polyarch';

// #region example
try {
  await requireEmulation({ platforms: [detectHostPlatform(), parsePlatform('linux/s390x')] });
  console.log('every platform runs here');
} catch (error) {
  if (!isPolyarchError(error) || error.code !== 'EMULATION_MISSING') throw error;
  console.log(error.message); // names each platform that cannot run, and the fix
}
// #endregion example

await assert.doesNotReject(requireEmulation({ platforms: [detectHostPlatform()] }), 'the machine runs its own programs');
