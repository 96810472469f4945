import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isProcessAlive } from '../internal/process-alive.js';
import { isTempName } from '../internal/temp-path.js';

/** The writer's pid, from a temp name made by tempPathIn (`.prefix-PID-hex.polyarch-tmp`). */
function ownerOf(name: string): number | undefined {
  const match = /-(\d+)-[0-9a-f]+\.polyarch-tmp$/.exec(name);
  return match ? Number(match[1]) : undefined;
}


/** Removes temp files a crashed writer left in a layout; a live writer's temp files are left alone. */
export async function removeOrphanTemps(dir: string): Promise<number> {
  let removed = 0;
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile() || !isTempName(entry.name)) continue;
    const owner = ownerOf(entry.name);
    if (owner !== undefined && isProcessAlive(owner)) continue;
    const parent = (entry as unknown as { parentPath?: string; path?: string }).parentPath ?? (entry as unknown as { path: string }).path;
    await rm(join(parent, entry.name), { force: true });
    removed++;
  }
  return removed;
}
