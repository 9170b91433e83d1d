import type { Db } from '../eventstore/db.js';
import type { Logger } from '../logger.js';
import type { MediaStorage } from '../media/storage.js';

/** Everything the API needs, composed once in main.ts (or by a test). */
export interface ApiDeps {
  db: Db;
  storage: MediaStorage;
  log: Logger;
  maxUploadBytes: number;
  /** Where `/media/...` is served from the client's point of view (default: same origin). */
  mediaBaseUrl: string;
  /** Readiness probes, e.g. PostgreSQL and the broker. */
  readiness: Record<string, () => Promise<void>>;
}
