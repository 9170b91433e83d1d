import { ErrorCode, FramelogError } from '../../domain/errors.js';
import type { Db } from '../../eventstore/db.js';
import { isPgError, SqlState } from '../../eventstore/pgErrors.js';
import { isRole, type Role } from './roles.js';
import { generateToken, hashToken } from './tokens.js';

// The api_tokens table (migration 0003). Only hashes go in; a token is shown once, at creation.

export interface TokenInfo {
  name: string;
  role: Role;
  createdAt: Date;
  revokedAt: Date | null;
}

const NAME = /^[A-Za-z0-9_.@-]{1,100}$/;

/** Creates a token and returns it: the only moment it exists outside the client. */
export async function createToken(db: Db, input: { name: string; role: string }): Promise<{ token: string; info: TokenInfo }> {
  if (!NAME.test(input.name)) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, 'A token name is 1-100 characters of letters, digits, _ . @ -.');
  }
  if (!isRole(input.role)) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, `Unknown role "${input.role}"; use viewer, uploader or admin.`);
  }
  const token = generateToken();
  try {
    const row = await db
      .insertInto('api_tokens')
      .values({ name: input.name, role: input.role, token_hash: hashToken(token) })
      .returning(['created_at'])
      .executeTakeFirstOrThrow();
    return { token, info: { name: input.name, role: input.role, createdAt: row.created_at, revokedAt: null } };
  } catch (error) {
    if (isPgError(error) && error.code === SqlState.UNIQUE_VIOLATION) {
      throw new FramelogError(ErrorCode.BAD_USER_INPUT, `A token named "${input.name}" exists already; pick another name or revoke it.`, { cause: error });
    }
    throw error;
  }
}

export async function listTokens(db: Db): Promise<TokenInfo[]> {
  const rows = await db.selectFrom('api_tokens').select(['name', 'role', 'created_at', 'revoked_at']).orderBy('created_at').execute();
  return rows.map((row) => ({ name: row.name, role: row.role as Role, createdAt: row.created_at, revokedAt: row.revoked_at }));
}

/** Revokes by name; the row stays so that the name is never reused for another principal. */
export async function revokeToken(db: Db, name: string): Promise<boolean> {
  const result = await db.updateTable('api_tokens').set({ revoked_at: new Date() }).where('name', '=', name).where('revoked_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** The principal of the token whose sha256 is `tokenHash` (tokens.ts hashToken), or null when it is unknown or revoked. */
export async function findActiveToken(db: Db, tokenHash: Buffer): Promise<{ name: string; role: Role } | null> {
  const row = await db
    .selectFrom('api_tokens')
    .select(['name', 'role'])
    .where('token_hash', '=', tokenHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row && isRole(row.role) ? { name: row.name, role: row.role } : null;
}

/** Whether any token was ever created (revoked ones count: revoking the last token must not open the API). */
export async function anyTokenExists(db: Db): Promise<boolean> {
  const row = await db.selectFrom('api_tokens').select('id').limit(1).executeTakeFirst();
  return row !== undefined;
}

export async function countActiveTokens(db: Db): Promise<number> {
  const row = await db.selectFrom('api_tokens').select((eb) => eb.fn.countAll<string>().as('n')).where('revoked_at', 'is', null).executeTakeFirstOrThrow();
  return Number(row.n);
}
