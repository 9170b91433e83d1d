import { ErrorCode, FramelogError } from '../../domain/errors.js';
import type { Db } from '../../eventstore/db.js';
import type { Role } from './roles.js';
import { anyTokenExists, countActiveTokens, findActiveToken } from './tokenStore.js';

/** Who sends a request: `name` becomes `actor` in event metadata. */
export interface Principal {
  name: string;
  role: Role;
}

/** Everyone, while a development API has no tokens at all (main.ts warns about it at start). */
export const OPEN_PRINCIPAL: Principal = { name: 'anonymous', role: 'admin' };

export type Authenticator = (authorization: string | undefined) => Promise<Principal>;

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * Resolves the `Authorization: Bearer <token>` header to a principal. With `allowOpen` (development)
 * and no token ever created, every request is admin; the first token turns enforcement on for good.
 */
export function createAuthenticator(db: Db, options: { allowOpen: boolean }): Authenticator {
  // Tokens are never deleted (revoke keeps the row), so once enforced always enforced: no query needed.
  let enforced = !options.allowOpen;
  return async (authorization) => {
    if (!enforced && (await anyTokenExists(db))) enforced = true;
    if (authorization === undefined || authorization === '') {
      if (!enforced) return OPEN_PRINCIPAL;
      throw new FramelogError(ErrorCode.UNAUTHENTICATED, 'Send an API token as "Authorization: Bearer <token>" (create one with npm run token -- create).');
    }
    const token = BEARER.exec(authorization)?.[1];
    const principal = token ? await findActiveToken(db, token) : null;
    if (!principal) {
      throw new FramelogError(ErrorCode.UNAUTHENTICATED, 'The API token is malformed, unknown or revoked; the header is "Authorization: Bearer <token>".');
    }
    return principal;
  };
}

/**
 * Decides at start whether the API runs enforced or open. Production never runs open: with no
 * active token it refuses to start (nobody could use it, and opening it would be worse).
 */
export async function authModeAtStart(db: Db, production: boolean): Promise<'enforced' | 'open'> {
  if (production) {
    if ((await countActiveTokens(db)) === 0) {
      throw new FramelogError(
        ErrorCode.CONFIG_INVALID,
        'NODE_ENV=production needs at least one active API token; create one with: npm run token -- create --name NAME --role admin',
      );
    }
    return 'enforced';
  }
  return (await anyTokenExists(db)) ? 'enforced' : 'open';
}
