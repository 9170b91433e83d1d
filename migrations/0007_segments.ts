import { sql, type Kysely } from 'kysely';

// Frozen once landed: takes Kysely<any> and never imports application code.

export async function up(db: Kysely<any>): Promise<void> {
  // The inline projection of segment streams (split and stitch, DESIGN §11): one row per segment, written
  // in the append's transaction by framelog_append (0006), so a segment's committed result is in it at once.
  await sql`
    create table segments (
      id                uuid    primary key,
      video_id          uuid    not null,
      video_task_id     uuid    not null,
      range_index       integer not null,
      start_seconds     float8  not null,
      end_seconds       float8  not null,
      status            text    not null,
      attempts          integer not null,
      unfinished_starts integer not null,
      last_error        jsonb,
      result            jsonb,
      version           integer not null
    )`.execute(db);
  // The fan-in counts a task's encoded segments after each result commits.
  await sql`create index segments_video_task on segments (video_task_id, status)`.execute(db);

  // One result per segment, enforced by the database (DESIGN §1 guarantee 2, §11): a segment stream is
  // one segment task, so its outcome is unique per stream.
  await sql`create unique index events_one_segment_outcome on events (stream_id) where type in ('SegmentEncoded', 'SegmentAbandoned')`.execute(db);
  // One plan and exactly one stitch per task of a video.
  await sql`
    create unique index events_one_stage_per_task on events (stream_id, (data->>'taskId'), type)
      where type in ('VideoSplit', 'StitchRequested')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index events_one_stage_per_task`.execute(db);
  await sql`drop index events_one_segment_outcome`.execute(db);
  await sql`drop table segments`.execute(db);
}
