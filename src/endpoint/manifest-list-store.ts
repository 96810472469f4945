import { join } from 'node:path';
import { defaultRegistryConfigDir } from './open-endpoint.js';
import {
  readStoredList,
  removeStoredEntry,
  removeStoredList,
  storedEntryDocument,
  writeStoredEntry,
  type StoredEntry,
} from '../store/docker-manifest-store.js';

export { storedEntryDocument, type StoredEntry };

/** docker's local manifest lists under `<config dir>/manifests`, as ops/ sees them. */
export interface ManifestListStore {
  readonly root: string;
  read(listRef: string): Promise<StoredEntry[] | undefined>;
  write(listRef: string, entry: StoredEntry): Promise<void>;
  removeEntry(listRef: string, entryRef: string): Promise<void>;
  remove(listRef: string): Promise<boolean>;
}

export function openManifestListStore(configDir: string = defaultRegistryConfigDir()): ManifestListStore {
  const root = join(configDir, 'manifests');
  return {
    root,
    read: (listRef) => readStoredList(root, listRef),
    write: (listRef, entry) => writeStoredEntry(root, listRef, entry),
    removeEntry: (listRef, entryRef) => removeStoredEntry(root, listRef, entryRef),
    remove: (listRef) => removeStoredList(root, listRef),
  };
}
