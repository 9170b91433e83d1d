import type { Db } from '../eventstore/db.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Authenticator } from './auth/authenticate.js';
import type { MediaStorage } from '../media/storage.js';
import type { VideoUpdates } from './subscriptions/videoUpdates.js';
import type { TusUploads } from './uploads/tusServer.js';

/** Everything the API needs, composed once in services/main/api.ts (or by a test). */
export interface ApiDeps {
  db: Db;
  storage: MediaStorage;
  log: Logger;
  maxUploadBytes: number;
  /** The tus endpoint of resumable uploads (createUpload) and its store. */
  tus: TusUploads;
  /** UPLOAD_EXPIRY_HOURS in ms: how long a resumable upload may take. */
  uploadExpiryMs: number;
  /** Where `/media/...` is served from the client's point of view (default: same origin). */
  mediaBaseUrl: string;
  /** Resolves the Authorization header to a principal (auth/authenticate.ts). */
  authenticate: Authenticator;
  metrics: Metrics;
  /** Readiness probes, e.g. PostgreSQL and the broker. */
  readiness: Record<string, () => Promise<void>>;
  /** Live changes and progress for `videoUpdated` and `Video.progress` (LISTEN/NOTIFY). */
  videoUpdates: VideoUpdates;
}
