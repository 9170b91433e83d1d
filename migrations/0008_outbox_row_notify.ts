import { sql, type Kysely } from 'kysely';

// Frozen once landed: takes Kysely<any> and never imports application code.

export async function up(db: Kysely<any>): Promise<void> {
  // The relay's wake-up (0001) fired once per INSERT statement, and framelog_append (0006) runs its
  // outbox INSERT on every append, inserting no row for most: ~2 wake-ups per task that found nothing.
  // Per row, it fires only for a row that exists. Several rows of one transaction still wake the relay
  // once: PostgreSQL folds identical notifications of a transaction into one. Same function, so the
  // notification is still sent at commit and never for a rolled-back row.
  await sql`drop trigger outbox_notify on outbox`.execute(db);
  await sql`create trigger outbox_notify after insert on outbox for each row execute function framelog_outbox_notify()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger outbox_notify on outbox`.execute(db);
  await sql`create trigger outbox_notify after insert on outbox for each statement execute function framelog_outbox_notify()`.execute(db);
}
