import { sql, type Kysely } from 'kysely';

// Frozen once landed: takes Kysely<any> and never imports application code.

export async function up(db: Kysely<any>): Promise<void> {
  // Only the sha256 of a token is stored: a leaked table does not leak usable credentials. Tokens are
  // 256 random bits, so a plain (unsalted) hash is enough and lets a lookup use the unique index.
  await sql`
    create table api_tokens (
      id uuid primary key default gen_random_uuid(),
      name text not null unique check (name ~ '^[A-Za-z0-9_.@-]{1,100}$'),
      role text not null check (role in ('viewer', 'uploader', 'admin')),
      token_hash bytea not null unique check (octet_length(token_hash) = 32),
      created_at timestamptz not null default now(),
      revoked_at timestamptz
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table api_tokens`.execute(db);
}
