import { PolyarchError } from '../../errors/polyarch-error.js';
import { RegularFileError, readProblem, readRegularFile } from '../../internal/regular-file.js';
import { pemProblem } from '../../internal/pem.js';
import { MAX_PEM_FILE_BYTES, MAX_SETTINGS_FILE_BYTES } from './limits.js';
import type { SettingsFileRef } from './types.js';

/** A settings file's text; undefined when an optional (default) file is absent. */
export async function readSettingsText(ref: SettingsFileRef): Promise<string | undefined> {
  try {
    return await readRegularFile(ref.path, MAX_SETTINGS_FILE_BYTES);
  } catch (error) {
    if (error instanceof RegularFileError && error.problem === 'missing' && ref.optional === true) return undefined;
    throw new PolyarchError('CONFIG_INVALID', `registry settings file "${ref.path}": ${readProblem(error)}`, { cause: error });
  }
}

/** Checks a certificate or key file a setting names, so a bad path or content is reported with the setting that named it. */
export async function checkPemFile(path: string, source: string, kind: 'certificate' | 'key' = 'certificate'): Promise<void> {
  let text: string;
  try {
    text = await readRegularFile(path, MAX_PEM_FILE_BYTES);
  } catch (error) {
    throw new PolyarchError('CONFIG_INVALID', `file "${path}" named by ${source}: ${readProblem(error)}`, { cause: error });
  }
  const problem = pemProblem(text, kind);
  if (problem) throw new PolyarchError('CONFIG_INVALID', `file "${path}" named by ${source}: ${problem}`);
}

