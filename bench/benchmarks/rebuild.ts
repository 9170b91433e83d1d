import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import pg from 'pg';
import { rebuildProjections, type RebuildReport } from '../../services/eventstore/rebuild.js';
import { createBenchDatabase, type BenchDatabase } from '../lib/database.js';
import { profilingDir } from '../lib/pipeline.js';
import { row, type BenchRow } from '../lib/results.js';

/** Rows per FETCH of the raw scan: the rebuild's default page size, so both read in the same steps. */
const FETCH_SIZE = 5_000;
const EVENTS_PER_STREAM = 3;

/**
 * Fills the log with `events` valid events (upload, start, outcome per video) in one SQL statement.
 * session_replication_role = replica skips the hash-chain trigger, which would make generating a
 * million events take minutes; the rebuild does not read hashes, so placeholders do.
 */
export async function generateEvents(database: BenchDatabase, events: number): Promise<void> {
  const streams = Math.ceil(events / EVENTS_PER_STREAM);
  const client = await database.pool.connect();
  try {
    await client.query('set session_replication_role = replica');
    // Version-4-shaped ids (the domain validates them), deterministic per stream.
    await client.query(
      `create function pg_temp.bench_uuid(seed text) returns uuid language sql immutable as
         $$ select overlay(overlay(md5(seed) placing '4' from 13) placing '8' from 17)::uuid $$`,
    );
    await client.query(
      `with s as (select g, pg_temp.bench_uuid('s' || g) as sid, pg_temp.bench_uuid('t' || g) as tid from generate_series(1, $1::int) g)
       insert into events (stream_id, version, event_id, type, data, metadata, prev_hash, hash)
       select sid, v, gen_random_uuid(),
         case v when 1 then 'VideoUploaded' when 2 then 'ProcessingStarted' else 'VideoProcessed' end,
         case v
           when 1 then jsonb_build_object('taskId', tid, 'title', 'bench ' || g, 'originalFilename', 'bench.mp4', 'contentType', 'video/mp4',
                                          'sizeBytes', 1000000, 'sha256', repeat('0', 64), 'storageKey', 'uploads/' || sid || '/source')
           when 2 then jsonb_build_object('taskId', tid, 'attempt', 1, 'workerId', 'bench')
           else jsonb_build_object('taskId', tid, 'attempt', 1, 'elapsedMs', 1000, 'poster', null,
             'media', jsonb_build_object('durationSeconds', 10, 'width', 1280, 'height', 720, 'videoCodec', 'h264', 'audioCodec', 'aac', 'frameRate', 30, 'rotation', 0),
             'renditions', jsonb_build_array(jsonb_build_object('label', '720p', 'width', 1280, 'height', 720, 'sizeBytes', 500000, 'storageKey', 'renditions/' || sid || '/720p.mp4')))
         end,
         jsonb_build_object('correlationId', tid, 'taskId', tid, 'actor', 'bench'),
         '\\x00'::bytea, '\\x00'::bytea
       from s cross join generate_series(1, ${EVENTS_PER_STREAM}) v
       where (g - 1) * ${EVENTS_PER_STREAM} + v <= $2
       order by g, v`,
      [streams, events],
    );
    await client.query('set session_replication_role = origin');
    await client.query('vacuum analyze events');
  } finally {
    client.release();
  }
}

/** The baseline: every event row, in position order, through a server-side cursor. */
async function rawCursorScan(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined); // a lost connection fails the pending query, which is reported
  await client.connect();
  try {
    await client.query('begin');
    await client.query('declare scan no scroll cursor for select * from events order by position');
    let rows = 0;
    for (;;) {
      const { rowCount } = await client.query(`fetch ${FETCH_SIZE} from scan`);
      if (!rowCount) break;
      rows += rowCount;
    }
    await client.query('commit');
    return rows;
  } finally {
    await client.end();
  }
}

/**
 * The rebuild runs in this process (as `npm run replay` runs it in its own), so `--profile` profiles
 * it here, with the inspector, into rebuild.cpuprofile: the raw scans and the data generation stay out.
 */
async function profiled(rebuild: () => Promise<RebuildReport>): Promise<RebuildReport> {
  const dir = profilingDir();
  if (dir === undefined) return rebuild();
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    const report = await rebuild();
    const { profile } = await session.post('Profiler.stop');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'rebuild.cpuprofile'), JSON.stringify(profile));
    return report;
  } finally {
    session.disconnect();
  }
}

export async function rebuildBenchmark(options: { events: number }): Promise<BenchRow[]> {
  const database = await createBenchDatabase();
  try {
    await generateEvents(database, options.events);
    // Warm the cache for both alike: the first reader would otherwise pay for reading from disk.
    await rawCursorScan(database.url);

    const rawStarted = performance.now();
    const scanned = await rawCursorScan(database.url);
    const baseline = scanned / ((performance.now() - rawStarted) / 1000);

    const started = performance.now();
    const report = await profiled(() => rebuildProjections(database.db));
    const framelog = report.events / ((performance.now() - started) / 1000);
    if (report.events !== options.events || scanned !== options.events) {
      throw new Error(`expected ${options.events} events; the rebuild folded ${report.events}, the scan read ${scanned}`);
    }
    return [
      row({
        benchmark: 'rebuild',
        measure: `${options.events.toLocaleString('en')} events`,
        unit: 'events/s',
        framelog,
        baseline,
        comparison: '>=',
        limit: 0.5,
        details: { videos: report.videos, rebuildMs: report.durationMs },
      }),
    ];
  } finally {
    await database.drop();
  }
}
