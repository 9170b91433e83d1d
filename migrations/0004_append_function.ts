import { sql, type Kysely } from 'kysely';

// Frozen once landed: takes Kysely<any> and never imports application code.

const VIDEO_COLUMNS = [
  'status', 'title', 'original_filename', 'content_type', 'size_bytes', 'sha256', 'storage_key', 'current_task_id',
  'attempts', 'unfinished_starts', 'last_error', 'media', 'renditions', 'poster', 'uploaded_at', 'updated_at', 'version',
  'created_position', 'last_position',
] as const;

export async function up(db: Kysely<any>): Promise<void> {
  // One append = one call. plpgsql prepares the plans of its statements once per connection; the
  // CTE the application sent before was parsed and planned on every append, which cost PostgreSQL
  // more than the inserts themselves. The events are hash-chained by the events_chain trigger as
  // before; `p_video` is the projection row as the application's evolve() made it, and the function
  // adds what only the database knows: when and at which positions the events landed (timestamps
  // truncated to milliseconds, as a Date read back, and a rebuild, has them).
  const updates = sql.raw(VIDEO_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', '));
  await sql`
    create function framelog_append(
      p_stream_id uuid, p_expected_version integer, p_events jsonb, p_video jsonb, p_outbox jsonb
    ) returns setof events language plpgsql as $$
    declare
      recorded events[];
      first_event events;
      last_event events;
      video jsonb := p_video;
    begin
      with inserted as (
        insert into events (stream_id, version, event_id, type, data, metadata)
        select p_stream_id, p_expected_version + e.n::integer, (e.value->>'event_id')::uuid, e.value->>'type',
               e.value->'data', e.value->'metadata'
        from jsonb_array_elements(p_events) with ordinality as e(value, n)
        order by e.n
        returning *)
      select array_agg(i order by i.position) into recorded from inserted i;
      if recorded is null then
        raise exception 'an append needs at least one event' using errcode = 'FL003';
      end if;
      first_event := recorded[1];
      last_event := recorded[cardinality(recorded)];

      if p_outbox is not null then
        insert into outbox (id, stream_id, event_position, routing_key, payload, headers)
        values ((p_outbox->>'id')::uuid, p_stream_id, last_event.position, p_outbox->>'routing_key',
                p_outbox->'payload', coalesce(p_outbox->'headers', '{}'::jsonb));
      end if;

      video := video || jsonb_build_object('id', p_stream_id,
        'updated_at', date_trunc('milliseconds', last_event.recorded_at), 'last_position', last_event.position);
      if p_expected_version = 0 then
        video := video || jsonb_build_object(
          'uploaded_at', date_trunc('milliseconds', first_event.recorded_at), 'created_position', first_event.position);
      end if;
      insert into videos select * from jsonb_populate_record(null::videos, video)
        on conflict (id) do update set ${updates};

      return query select * from unnest(recorded);
    end $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function framelog_append(uuid, integer, jsonb, jsonb, jsonb)`.execute(db);
}
