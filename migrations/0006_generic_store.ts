import { sql, type Kysely } from 'kysely';

// Frozen once landed: takes Kysely<any> and never imports application code.

const VIDEO_COLUMNS = [
  'status', 'title', 'original_filename', 'content_type', 'size_bytes', 'sha256', 'storage_key', 'current_task_id',
  'attempts', 'unfinished_starts', 'last_error', 'media', 'renditions', 'poster', 'uploaded_at', 'updated_at', 'version',
  'created_position', 'last_position',
] as const;

export async function up(db: Kysely<any>): Promise<void> {
  // Streams have a type (DESIGN §3): every stream so far is a video. Constant defaults: no rewrite, and
  // the append-only triggers are not involved.
  await sql`alter table events add column stream_type text not null default 'video'`.execute(db);
  // The transaction that wrote each event, for the gap-free feed (DESIGN §1 guarantee 8): readers see
  // only events below the oldest transaction still in flight. Events written before this migration
  // were all committed: '0' puts them below every horizon.
  await sql`alter table events add column transaction_id xid8 not null default '0'`.execute(db);
  await sql`alter table events alter column transaction_id set default pg_current_xact_id()`.execute(db);
  // The feed's order is (transaction_id, position): a transaction that took a lower position but
  // committed later comes after, so a cursor never passes an event it has not shown.
  await sql`create index events_feed on events (transaction_id, position)`.execute(db);
  await sql`create index events_stream_type on events (stream_type, stream_id, version)`.execute(db);

  // One append = one call, as in 0004, for any stream type: the events, 0..n outbox rows (p_outbox is
  // a JSON array) and the stream type's inline projection row (p_projection: {"table", "row"}, or
  // null). The `videos` projection keeps its static upsert (plans prepared once per connection); the
  // projection tables of other stream types are upserted by name (primary key `id`, the stream id).
  const updates = sql.raw(VIDEO_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', '));
  await sql`
    create function framelog_append(
      p_stream_id uuid, p_stream_type text, p_expected_version integer, p_events jsonb, p_projection jsonb, p_outbox jsonb
    ) returns setof events language plpgsql as $$
    declare
      recorded events[];
      first_event events;
      last_event events;
      projection_table text := p_projection->>'table';
      projected jsonb := p_projection->'row';
      assignments text;
    begin
      with inserted as (
        insert into events (stream_id, stream_type, version, event_id, type, data, metadata)
        select p_stream_id, p_stream_type, p_expected_version + e.n::integer, (e.value->>'event_id')::uuid,
               e.value->>'type', e.value->'data', e.value->'metadata'
        from jsonb_array_elements(p_events) with ordinality as e(value, n)
        order by e.n
        returning *)
      select array_agg(i order by i.position) into recorded from inserted i;
      if recorded is null then
        raise exception 'an append needs at least one event' using errcode = 'FL003';
      end if;
      first_event := recorded[1];
      last_event := recorded[cardinality(recorded)];

      insert into outbox (id, stream_id, event_position, routing_key, payload, headers)
      select (o.value->>'id')::uuid, p_stream_id, last_event.position, o.value->>'routing_key',
             o.value->'payload', coalesce(o.value->'headers', '{}'::jsonb)
      from jsonb_array_elements(coalesce(p_outbox, '[]'::jsonb)) as o(value);

      if projection_table = 'videos' then
        projected := projected || jsonb_build_object('id', p_stream_id,
          'updated_at', date_trunc('milliseconds', last_event.recorded_at), 'last_position', last_event.position);
        if p_expected_version = 0 then
          projected := projected || jsonb_build_object(
            'uploaded_at', date_trunc('milliseconds', first_event.recorded_at), 'created_position', first_event.position);
        end if;
        insert into videos select * from jsonb_populate_record(null::videos, projected)
          on conflict (id) do update set ${updates};
      elsif projection_table is not null then
        select string_agg(format('%I = excluded.%I', a.attname, a.attname), ', ') into assignments
          from pg_attribute a
          where a.attrelid = projection_table::regclass and a.attnum > 0 and not a.attisdropped and a.attname <> 'id';
        execute format('insert into %I select * from jsonb_populate_record(null::%I, $1) on conflict (id) do update set %s',
          projection_table, projection_table, assignments)
          using projected || jsonb_build_object('id', p_stream_id);
      end if;

      return query select * from unnest(recorded);
    end $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function framelog_append(uuid, text, integer, jsonb, jsonb, jsonb)`.execute(db);
  await sql`drop index events_stream_type`.execute(db);
  await sql`drop index events_feed`.execute(db);
  await sql`alter table events drop column transaction_id`.execute(db);
  await sql`alter table events drop column stream_type`.execute(db);
}
