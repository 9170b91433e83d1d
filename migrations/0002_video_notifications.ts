import { sql, type Kysely } from 'kysely';

// Frozen once landed: takes Kysely<any> and never imports application code.

export async function up(db: Kysely<any>): Promise<void> {
  // Tells every API process (LISTEN framelog_video_updated) that a video row changed, so that
  // `videoUpdated` subscriptions work across processes. NOTIFY is transactional: it fires at commit,
  // never for a rolled-back append. The payload is "<video id> <last log position>": a listener folds
  // the stream up to that position, so it sees every state even when changes follow each other fast.
  await sql`
    create function framelog_video_notify() returns trigger language plpgsql as $$
    begin
      perform pg_notify('framelog_video_updated', new.id::text || ' ' || new.last_position::text);
      return null;
    end $$`.execute(db);
  await sql`create trigger videos_notify after insert or update on videos for each row execute function framelog_video_notify()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger videos_notify on videos`.execute(db);
  await sql`drop function framelog_video_notify()`.execute(db);
}
