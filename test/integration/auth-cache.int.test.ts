import { Kysely, PostgresDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator, OPEN_PRINCIPAL, type Authenticator, type AuthenticatorOptions } from '../../services/api/auth/authenticate.js';
import { createToken, revokeToken } from '../../services/api/auth/tokenStore.js';
import { generateToken, hashToken } from '../../services/api/auth/tokens.js';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import type { Database } from '../../services/eventstore/schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// The authenticator's cache against the real api_tokens table, with a clock moved by hand: what a
// revocation or a first token changes, and when, without sleeping.

let t: TestDatabase;
/** The test database's pool, counting the statements the authenticator sends. */
let counted: Kysely<Database>;
let queries = 0;

beforeAll(async () => {
  t = await createTestDatabase();
  counted = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: t.pool }),
    log: (event) => {
      if (event.level === 'query') queries += 1;
    },
  });
});
afterAll(async () => {
  // `counted` shares t's pool, which t.drop() closes.
  await t.drop();
});

function setUp(options: Omit<AuthenticatorOptions, 'clock'>): { authenticate: Authenticator; advance: (ms: number) => void } {
  // Not 0: lru-cache reads a start time of 0 as "no time recorded".
  let now = 1_000;
  return {
    authenticate: createAuthenticator(counted, { ...options, clock: () => now }),
    advance: (ms) => {
      now += ms;
    },
  };
}

const bearer = (token: string) => `Bearer ${token}`;

async function refusal(promise: Promise<unknown>): Promise<ErrorCode> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(FramelogError);
  return (error as FramelogError).code;
}

/** Statements the authenticator sent while `fn` ran. */
async function queriesDuring(fn: () => Promise<unknown>): Promise<number> {
  const before = queries;
  await fn();
  return queries - before;
}

// In file order: the first test needs a table without any token.
describe('a development API while no token exists', () => {
  it('runs open, asking at most once a second; the first token is enforced once that second has passed', async () => {
    const { authenticate, advance } = setUp({ allowOpen: true, cacheSeconds: 5 });
    expect(await queriesDuring(() => Promise.all(Array.from({ length: 20 }, () => authenticate(undefined))))).toBe(1);
    expect(await authenticate(undefined)).toBe(OPEN_PRINCIPAL);

    const { token } = await createToken(t.db, { name: 'first', role: 'viewer' });
    advance(999);
    expect(await queriesDuring(() => authenticate(undefined))).toBe(0);
    expect(await authenticate(undefined)).toBe(OPEN_PRINCIPAL);
    advance(1);
    expect(await refusal(authenticate(undefined))).toBe(ErrorCode.UNAUTHENTICATED);
    expect(await authenticate(bearer(token))).toEqual({ name: 'first', role: 'viewer' });

    // For good: revoking the only token does not open the API again, and nothing asks any more.
    await revokeToken(t.db, 'first');
    advance(60_000);
    expect(await queriesDuring(() => refusal(authenticate(undefined)))).toBe(0);
  });
});

describe('the principal cache (AUTH_CACHE_SECONDS)', () => {
  it('reuses a principal for the cache time: a revocation takes effect once it has passed', async () => {
    const { authenticate, advance } = setUp({ allowOpen: false, cacheSeconds: 5 });
    const { token } = await createToken(t.db, { name: 'revoked-later', role: 'uploader' });
    expect(await queriesDuring(() => authenticate(bearer(token)))).toBe(1);
    await revokeToken(t.db, 'revoked-later');

    advance(5_000);
    expect(await queriesDuring(() => authenticate(bearer(token)))).toBe(0);
    expect(await authenticate(bearer(token))).toEqual({ name: 'revoked-later', role: 'uploader' });
    advance(1);
    expect(await refusal(authenticate(bearer(token)))).toBe(ErrorCode.UNAUTHENTICATED);
  });

  it('asks again now when asked for an answer that holds longer than the cached one (validForMs, open sockets)', async () => {
    const { authenticate, advance } = setUp({ allowOpen: false, cacheSeconds: 5 });
    const { token } = await createToken(t.db, { name: 'on-a-socket', role: 'viewer' });
    expect(await queriesDuring(() => authenticate(bearer(token), { validForMs: 1_000 }))).toBe(1);
    advance(3_999);
    // 1 001 ms left: enough for a check repeated every second.
    expect(await queriesDuring(() => authenticate(bearer(token), { validForMs: 1_000 }))).toBe(0);
    await revokeToken(t.db, 'on-a-socket');
    advance(2);
    // 999 ms left: the next repeated check would come after the cache time, so this one asks now.
    expect(await refusal(authenticate(bearer(token), { validForMs: 1_000 }))).toBe(ErrorCode.UNAUTHENTICATED);
    // And the revoked principal is not put back for requests either.
    expect(await refusal(authenticate(bearer(token)))).toBe(ErrorCode.UNAUTHENTICATED);
  });

  it('makes one query for concurrent requests with the same token', async () => {
    const { authenticate } = setUp({ allowOpen: false, cacheSeconds: 5 });
    const { token } = await createToken(t.db, { name: 'busy', role: 'viewer' });
    let principals: { name: string }[] = [];
    const burst = async () => {
      principals = await Promise.all(Array.from({ length: 20 }, () => authenticate(bearer(token))));
    };
    expect(await queriesDuring(burst)).toBe(1);
    expect(principals.map((p) => p.name)).toEqual(Array<string>(20).fill('busy'));
    expect(await queriesDuring(burst)).toBe(0);
  });

  it('does not remember an unknown token: it works as soon as its row exists', async () => {
    const { authenticate } = setUp({ allowOpen: false, cacheSeconds: 5 });
    const token = generateToken();
    expect(await refusal(authenticate(bearer(token)))).toBe(ErrorCode.UNAUTHENTICATED);
    // createToken makes its own token, so this one goes in as createToken would store it: its hash.
    await t.db.insertInto('api_tokens').values({ name: 'just-made', role: 'admin', token_hash: hashToken(token) }).execute();
    expect(await authenticate(bearer(token))).toEqual({ name: 'just-made', role: 'admin' });
  });

  it('keeps at most maxCachedTokens principals', async () => {
    const { authenticate } = setUp({ allowOpen: false, cacheSeconds: 5, maxCachedTokens: 2 });
    const tokens: string[] = [];
    for (const name of ['lru-a', 'lru-b', 'lru-c']) tokens.push((await createToken(t.db, { name, role: 'viewer' })).token);
    for (const token of tokens) await authenticate(bearer(token));
    // c and b are cached, a was dropped when c came in.
    expect(await queriesDuring(() => authenticate(bearer(tokens[2]!)))).toBe(0);
    expect(await queriesDuring(() => authenticate(bearer(tokens[1]!)))).toBe(0);
    expect(await queriesDuring(() => authenticate(bearer(tokens[0]!)))).toBe(1);
  });

  it('with 0 asks the database on every request, so a revocation takes effect at once', async () => {
    const { authenticate } = setUp({ allowOpen: false, cacheSeconds: 0 });
    const { token } = await createToken(t.db, { name: 'uncached', role: 'viewer' });
    expect(await queriesDuring(() => authenticate(bearer(token)))).toBe(1);
    expect(await queriesDuring(() => authenticate(bearer(token)))).toBe(1);
    await revokeToken(t.db, 'uncached');
    expect(await refusal(authenticate(bearer(token)))).toBe(ErrorCode.UNAUTHENTICATED);
  });
});
