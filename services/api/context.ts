import type { Logger } from '../logger.js';
import type { ApiDeps } from './deps.js';

/** Per-request context handed to every resolver. */
export interface ApiContext {
  deps: ApiDeps;
  /** Who acts: recorded as `actor` in event metadata. */
  actor: string;
  /** Ties this request to every event and log line it causes. */
  correlationId: string;
  log: Logger;
}
