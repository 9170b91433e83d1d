import { sql, type Kysely } from 'kysely';

// Frozen once landed: takes Kysely<any> and never imports application code.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table events (
      position     bigint generated always as identity primary key,
      stream_id    uuid        not null,
      version      integer     not null check (version >= 1),
      event_id     uuid        not null unique,
      type         text        not null,
      data         jsonb       not null,
      metadata     jsonb       not null default '{}'::jsonb,
      recorded_at  timestamptz not null default now(),
      prev_hash    bytea       not null,
      hash         bytea       not null,
      constraint events_stream_version_key unique (stream_id, version)
    )`.execute(db);

  // Canonical content of an event, hashed with the previous hash of its stream. jsonb::text is
  // normalised by PostgreSQL, and the timestamp is taken as epoch microseconds, so the result does
  // not depend on session settings such as TimeZone.
  await sql`
    create function framelog_event_hash(
      prev bytea, stream_id uuid, version integer, event_id uuid, type text,
      data jsonb, metadata jsonb, recorded_at timestamptz
    ) returns bytea language sql stable parallel safe as $$
      select sha256(prev || convert_to(concat_ws(chr(31),
        stream_id::text, version::text, event_id::text, type, data::text, metadata::text,
        (extract(epoch from recorded_at) * 1000000)::bigint::text), 'UTF8'))
    $$`.execute(db);

  // Chains every new event to the previous one of its stream. A version that does not follow the
  // stream's last one is refused (FL001) so that an append can never leave a gap.
  await sql`
    create function framelog_events_chain() returns trigger language plpgsql as $$
    declare
      previous bytea;
    begin
      new.recorded_at := now();
      if new.version = 1 then
        previous := decode(repeat('00', 32), 'hex');
      else
        select e.hash into previous from events e
          where e.stream_id = new.stream_id and e.version = new.version - 1;
        if not found then
          raise exception 'stream % has no version %', new.stream_id, new.version - 1
            using errcode = 'FL001';
        end if;
      end if;
      new.prev_hash := previous;
      new.hash := framelog_event_hash(previous, new.stream_id, new.version, new.event_id, new.type,
                                      new.data, new.metadata, new.recorded_at);
      return new;
    end $$`.execute(db);
  await sql`create trigger events_chain before insert on events for each row execute function framelog_events_chain()`.execute(db);

  // The log is append-only: UPDATE, DELETE and TRUNCATE are refused (FL002).
  await sql`
    create function framelog_events_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'the event log is append-only: % on events is refused', tg_op using errcode = 'FL002';
    end $$`.execute(db);
  await sql`create trigger events_no_update_delete before update or delete on events for each row execute function framelog_events_append_only()`.execute(db);
  await sql`create trigger events_no_truncate before truncate on events for each statement execute function framelog_events_append_only()`.execute(db);

  // One terminal event per task, enforced by the database (guarantee 2).
  await sql`
    create unique index events_one_outcome_per_task on events (stream_id, (data->>'taskId'))
      where type in ('VideoProcessed', 'VideoFailed')`.execute(db);
  await sql`create index events_type_position on events (type, position)`.execute(db);

  // Transactional outbox: written in the same transaction as the event it publishes.
  await sql`
    create table outbox (
      id             uuid        primary key,
      stream_id      uuid        not null,
      event_position bigint      not null,
      routing_key    text        not null,
      payload        jsonb       not null,
      headers        jsonb       not null default '{}'::jsonb,
      created_at     timestamptz not null default now(),
      available_at   timestamptz not null default now(),
      attempts       integer     not null default 0,
      last_error     text
    )`.execute(db);
  await sql`create index outbox_available on outbox (available_at, created_at)`.execute(db);
  // Wakes the relay at commit; NOTIFY is transactional, so it never fires for a rolled-back row.
  await sql`
    create function framelog_outbox_notify() returns trigger language plpgsql as $$
    begin
      perform pg_notify('framelog_outbox', '');
      return null;
    end $$`.execute(db);
  await sql`create trigger outbox_notify after insert on outbox for each statement execute function framelog_outbox_notify()`.execute(db);

  // Inline projection: one row per video, written by evolve() in the append's transaction.
  await sql`
    create table videos (
      id                uuid        primary key,
      status            text        not null,
      title             text,
      original_filename text        not null,
      content_type      text        not null,
      size_bytes        bigint      not null,
      sha256            text        not null,
      storage_key       text        not null,
      current_task_id   uuid        not null,
      attempts          integer     not null,
      unfinished_starts integer     not null,
      last_error        jsonb,
      media             jsonb,
      renditions        jsonb       not null,
      poster            jsonb,
      uploaded_at       timestamptz not null,
      updated_at        timestamptz not null,
      version           integer     not null,
      created_position  bigint      not null unique,
      last_position     bigint      not null
    )`.execute(db);
  // Newest first, with the upload's log position as the stable, unique cursor.
  await sql`create index videos_status_created on videos (status, created_position desc)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table videos`.execute(db);
  await sql`drop table outbox`.execute(db);
  await sql`drop function framelog_outbox_notify()`.execute(db);
  await sql`drop table events`.execute(db);
  await sql`drop function framelog_events_append_only()`.execute(db);
  await sql`drop function framelog_events_chain()`.execute(db);
  await sql`drop function framelog_event_hash(bytea, uuid, integer, uuid, text, jsonb, jsonb, timestamptz)`.execute(db);
}
