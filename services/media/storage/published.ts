import { LRUCache } from 'lru-cache';
import { isPublicOutputKey, outputVersionOf } from '../keys.js';
import type { MediaStorage, StoredObject } from './types.js';

/** How long a version seen committed is trusted without reading the manifest again. */
const COMMITTED_TTL_MS = 60_000;

/**
 * What /media may serve, the same for every backend: a public output key (keys.ts: never a source or a
 * manifest) that is either a file of the version its set's manifest names, or an unversioned output
 * written before output sets. An uncommitted, aborted or replaced version is never served, even by a
 * backend whose objects are visible as soon as they are uploaded (S3).
 */
export class PublishedOutputs {
  /** `<setKey>/<version>` of versions read as committed; bounded, and re-read after the TTL. */
  private readonly committed = new LRUCache<string, true>({ max: 10_000, ttl: COMMITTED_TTL_MS });

  constructor(private readonly storage: MediaStorage) {}

  /** The stored object at `key` if it is published; null otherwise (missing, private or not committed). */
  async stat(key: string): Promise<StoredObject | null> {
    if (!isPublicOutputKey(key)) return null;
    const version = outputVersionOf(key);
    if (version !== null && !(await this.isCommitted(version.setKey, version.version))) return null;
    return this.storage.stat(key);
  }

  private async isCommitted(setKey: string, version: string): Promise<boolean> {
    const id = `${setKey}/${version}`;
    if (this.committed.has(id)) return true;
    if ((await this.storage.readManifest(setKey))?.version !== version) return false;
    this.committed.set(id, true);
    return true;
  }
}
