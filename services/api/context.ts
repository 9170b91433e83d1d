import type { Logger } from '../logger.js';
import type { Role } from './auth/roles.js';
import type { ApiDeps } from './deps.js';

/** Per-request context handed to every resolver. */
export interface ApiContext {
  deps: ApiDeps;
  /** Who acts: the token's name (or `anonymous` in open development mode), recorded as `actor` in event metadata. */
  actor: string;
  /** The token's role; the authorization plugin checks every root field against it. */
  role: Role;
  /** Ties this request to every event and log line it causes. */
  correlationId: string;
  /** The request's W3C trace context, carried by the events and the task message it causes. */
  traceparent?: string;
  /** Scheme and host the client reached the API at (e.g. `http://127.0.0.1:4000`), for URLs it should call. */
  origin: string;
  log: Logger;
}
