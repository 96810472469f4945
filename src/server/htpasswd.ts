// Basic auth from an htpasswd file of bcrypt lines (`htpasswd -B`): `user:$2y$…`.
import { readFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { PolyarchError } from '../errors/polyarch-error.js';

export type PasswordCheck = (username: string, password: string) => Promise<boolean>;

export async function loadHtpasswd(file: string): Promise<PasswordCheck> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new PolyarchError('USAGE', `cannot read htpasswd file "${file}": ${(error as Error).message}`, { cause: error });
  }
  const users = new Map<string, string>();
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    const hash = line.slice(colon + 1).trim();
    if (colon <= 0 || !/^\$2[abxy]\$\d\d\$/.test(hash)) throw new PolyarchError('USAGE', `htpasswd file "${file}" line ${i + 1}: only bcrypt entries (htpasswd -B) are supported`);
    users.set(line.slice(0, colon), hash.replace(/^\$2y\$/, '$2b$'));
  }
  return async (username, password) => {
    const hash = users.get(username);
    return hash !== undefined && bcrypt.compare(password, hash);
  };
}
