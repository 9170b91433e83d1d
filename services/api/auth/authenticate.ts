import { LRUCache } from 'lru-cache';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import type { Db } from '../../eventstore/db.js';
import type { Role } from './roles.js';
import { anyTokenExists, countActiveTokens, findActiveToken } from './tokenStore.js';
import { hashToken } from './tokens.js';

/** Who sends a request: `name` becomes `actor` in event metadata. */
export interface Principal {
  name: string;
  role: Role;
}

/** Everyone, while a development API has no tokens at all (services/main/api.ts warns about it at start). */
export const OPEN_PRINCIPAL: Principal = { name: 'anonymous', role: 'admin' };

export interface AuthenticateOptions {
  /**
   * The answer must hold for at least this long (ms): a cached principal or "no token exists yet" that
   * would expire sooner is asked again now. Lets a check that repeats every `validForMs` (open
   * WebSocket connections) see a revocation within AUTH_CACHE_SECONDS, as a request does.
   */
  validForMs?: number;
}

export type Authenticator = (authorization: string | undefined, options?: AuthenticateOptions) => Promise<Principal>;

export interface AuthenticatorOptions {
  /** Development: every request is admin while no token was ever created. */
  allowOpen: boolean;
  /**
   * AUTH_CACHE_SECONDS: how long a token's principal is reused without asking the database, so a
   * revocation takes effect within this time. 0 asks the database on every request.
   */
  cacheSeconds: number;
  /** Most principals kept; the least recently used goes first. */
  maxCachedTokens?: number;
  /** Milliseconds from a monotonic clock; tests move it by hand instead of sleeping. */
  clock?: () => number;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** How long "no token exists yet" is believed: the first token enforces auth within this (or the cache time, if shorter). */
const OPEN_RECHECK_MS = 1_000;
const DEFAULT_MAX_CACHED_TOKENS = 1_000;

/**
 * Resolves the `Authorization: Bearer <token>` header to a principal. With `allowOpen` (development)
 * and no token ever created, every request is admin; the first token turns enforcement on for good.
 *
 * Without a cache every request would cost one more trip through the pool than the query it makes
 * (the `video` benchmark: p99 4x a bare query at 50 clients). So principals are kept for `cacheSeconds`,
 * keyed by the token's sha256, never the token itself. Unknown and revoked tokens are not remembered:
 * a token works as soon as it is created, and made-up tokens cannot push real ones out of the cache.
 * Concurrent lookups of one token share one query.
 */
export function createAuthenticator(db: Db, options: AuthenticatorOptions): Authenticator {
  const clock = options.clock ?? (() => performance.now());
  const ttlMs = Math.max(0, options.cacheSeconds * 1000);
  const openTtlMs = Math.min(OPEN_RECHECK_MS, ttlMs);
  // fetch() shares one query among concurrent lookups of a token; a fetch that resolves undefined (an
  // unknown or revoked token) stores nothing.
  const principals = new LRUCache<string, Principal, Buffer>({
    max: options.maxCachedTokens ?? DEFAULT_MAX_CACHED_TOKENS,
    ttl: Math.max(ttlMs, 1),
    perf: { now: clock },
    // Read the clock on every lookup instead of lru-cache's 1 ms memo of it (a timer per millisecond).
    ttlResolution: 0,
    fetchMethod: async (_key, _stale, { context }) => {
      const principal = await findActiveToken(db, context);
      return principal === null ? undefined : Object.freeze(principal);
    },
  });

  // Tokens are never deleted (revoke keeps the row), so once enforced always enforced: no query needed.
  let enforced = !options.allowOpen;
  let openUntil = -Infinity;
  let openCheck: Promise<void> | null = null;

  const checkForTokens = async (): Promise<void> => {
    if (await anyTokenExists(db)) enforced = true;
    else openUntil = clock() + openTtlMs;
  };

  const lookUpPrincipal = async (token: string, validForMs: number): Promise<Principal | null> => {
    const hash = hashToken(token);
    if (ttlMs === 0) return findActiveToken(db, hash);
    const key = hash.toString('base64');
    const remaining = principals.getRemainingTTL(key);
    const principal = await principals.fetch(key, { context: hash, forceRefresh: remaining > 0 && remaining < validForMs });
    // A forced refresh that finds the token revoked would otherwise put the old principal back.
    if (principal === undefined) principals.delete(key);
    return principal ?? null;
  };

  return async (authorization, { validForMs = 0 } = {}) => {
    if (!enforced && clock() + validForMs >= openUntil) {
      if (openTtlMs === 0) await checkForTokens();
      else await (openCheck ??= checkForTokens().finally(() => (openCheck = null)));
    }
    if (authorization === undefined || authorization === '') {
      if (!enforced) return OPEN_PRINCIPAL;
      throw new FramelogError(ErrorCode.UNAUTHENTICATED, 'Send an API token as "Authorization: Bearer <token>" (create one with npm run token -- create).');
    }
    const token = BEARER.exec(authorization)?.[1];
    const principal = token ? await lookUpPrincipal(token, validForMs) : null;
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
