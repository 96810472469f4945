// `COPY --chown=user:group` by name: names are looked up in the stage's own /etc/passwd and
// /etc/group (the newest layer that holds the file wins), as BuildKit does; numbers pass through.
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** name → id from passwd or group text (`name:x:id:…`). */
function idsOf(text: string | undefined): Map<string, number> {
  const ids = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id !== undefined && /^\d+$/.test(id)) ids.set(name, Number(id));
  }
  return ids;
}

/**
 * The owner `--chown` names. A user without a group takes the same number as its gid, as
 * Docker documents. `readFile` gives the stage's /etc/passwd or /etc/group when a name needs it;
 * a name it does not list is an error for the caller to put on the Dockerfile line.
 */
export async function resolveOwner(text: string, readFile: (path: 'etc/passwd' | 'etc/group') => Promise<string | undefined>): Promise<Owner | string> {
  const [user = '', group] = text.split(':', 2);
  if (user === '' || group === '') return `--chown=${text}: needs user[:group]`;
  const lookup = async (name: string, file: 'etc/passwd' | 'etc/group'): Promise<number | string> => {
    if (/^\d+$/.test(name)) return Number(name);
    const id = idsOf(await readFile(file)).get(name);
    return id ?? `--chown=${text}: ${file === 'etc/passwd' ? 'user' : 'group'} "${name}" is not in the image's /${file}`;
  };
  const uid = await lookup(user, 'etc/passwd');
  if (typeof uid === 'string') return uid;
  const gid = group === undefined ? uid : await lookup(group, 'etc/group');
  if (typeof gid === 'string') return gid;
  return { uid, gid };
}
