import type { GetMessage } from 'amqplib';
import { expect } from 'vitest';
import { TERMINAL_EVENT_TYPES } from '../../../services/domain/events.js';
import type { Db } from '../../../services/eventstore/db.js';
import { outboxLag } from '../../../services/eventstore/outbox.js';
import { Names, delayQueueName } from '../../../services/messaging/topology.js';
import { drainQueue, queueDepth } from '../../helpers/amqp.js';
import { waitFor } from '../../helpers/processes.js';

/** One message the dead-letter queue must hold: matched by the task it carries and/or its reason. */
export interface ExpectedDeadLetter {
  /** The message's body (or the start of it, for content that is not a task). */
  body: (body: string) => boolean;
  reason?: RegExp;
}

export interface InvariantInput {
  db: Db;
  namespace: string;
  /** Every video whose upload returned success. */
  videoIds: readonly string[];
  /** Exactly what the dead-letter queue must hold; 'unchecked' leaves it alone (a check mid-run). */
  deadLetters: readonly ExpectedDeadLetter[] | 'unchecked';
  /** Delay queues of the run (retry steps and the requeue delay), which must be empty too. */
  delaysMs: readonly number[];
  /** Resumable uploads opened in the run whose bytes are not all sent: see checkUploads. */
  uploadsInFlight?: readonly string[];
  timeoutMs?: number;
}

export interface InvariantReport {
  statuses: Map<string, string>;
  deadLetters: GetMessage[];
}

/**
 * The end state every fault scenario must reach (DESIGN guarantees 1–3): every uploaded video is
 * terminal; every task has exactly one terminal event; the work, delay and watch queues and the outbox
 * are empty; the dead-letter queue holds exactly the expected messages. Waits for the pipeline to settle
 * first (workers ack after their append), then asserts. Consumes the dead-letter queue.
 */
export async function checkInvariants(input: InvariantInput): Promise<InvariantReport> {
  const timeoutMs = input.timeoutMs ?? 120_000;
  const statuses = await waitFor(
    async () => {
      const rows = input.videoIds.length === 0 ? [] : await input.db.selectFrom('videos').select(['id', 'status']).where('id', 'in', [...input.videoIds]).execute();
      const terminal = rows.filter((r) => r.status === 'PROCESSED' || r.status === 'FAILED');
      return rows.length === input.videoIds.length && terminal.length === rows.length ? new Map(rows.map((r) => [r.id, r.status])) : null;
    },
    { timeoutMs, intervalMs: 250, message: 'every uploaded video terminal' },
  );

  // Tasks: one per VideoUploaded and RetryRequested; each must have exactly one terminal event.
  const events = await input.db.selectFrom('events').select(['stream_id', 'type', 'data']).where('stream_id', 'in', [...input.videoIds]).execute();
  const outcomes = new Map<string, number>();
  for (const event of events) {
    const taskId = (event.data as { taskId?: string }).taskId;
    const key = `${event.stream_id}/${taskId}`;
    if (event.type === 'VideoUploaded' || event.type === 'RetryRequested') outcomes.set(key, outcomes.get(key) ?? 0);
    if ((TERMINAL_EVENT_TYPES as readonly string[]).includes(event.type)) outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  }
  expect([...outcomes].filter(([, count]) => count !== 1), 'tasks without exactly one terminal event').toEqual([]);
  await checkUploads(input.db, input.uploadsInFlight ?? []);
  await checkSegments(input.db, statuses);

  const emptyQueues = [Names.workQueue, Names.deadLetterWatchQueue, ...input.delaysMs.map(delayQueueName)];
  await waitFor(
    async () => {
      const depths = await Promise.all(emptyQueues.map((queue) => queueDepth(input.namespace, queue)));
      return depths.every((depth) => depth === 0) && (await outboxLag(input.db)).count === 0;
    },
    { timeoutMs, intervalMs: 250, message: `queues ${emptyQueues.join(', ')} and the outbox empty` },
  );

  if (input.deadLetters === 'unchecked') return { statuses, deadLetters: [] };
  const deadLetters = await drainQueue(input.namespace, Names.deadLetterQueue);
  const unmatched = [...deadLetters];
  for (const expected of input.deadLetters) {
    const index = unmatched.findIndex((message) => {
      const reason = String(message.properties.headers?.['framelog-dead-letter-reason'] ?? message.properties.headers?.['x-first-death-reason'] ?? '');
      return expected.body(message.content.toString('utf8')) && (expected.reason?.test(reason) ?? true);
    });
    expect(index, `an expected dead letter is missing (${String(expected.reason ?? '')})`).toBeGreaterThanOrEqual(0);
    unmatched.splice(index, 1);
  }
  expect(unmatched.map((m) => m.content.toString('utf8')), 'unexpected dead letters').toEqual([]);
  return { statuses, deadLetters };
}

/**
 * Resumable uploads (DESIGN §12) in the whole database: an upload is completed at most once (one
 * VideoUploaded, of the task UploadStarted chose) and ended at most once; each of `inFlight` is still
 * UPLOADING, or ended by UploadExpired/UploadCancelled, and has enqueued nothing (no VideoUploaded, no
 * outbox row): a task exists only for bytes that all arrived.
 */
export async function checkUploads(db: Db, inFlight: readonly string[]): Promise<void> {
  const rows = await db
    .selectFrom('events as e')
    .innerJoin('events as s', (join) => join.onRef('s.stream_id', '=', 'e.stream_id').on('s.version', '=', 1).on('s.type', '=', 'UploadStarted'))
    .select(['e.stream_id', 'e.type', 'e.data', 's.data as start'])
    .where('e.type', 'in', ['VideoUploaded', 'UploadExpired', 'UploadCancelled'])
    .execute();
  const endings = new Map<string, string[]>();
  for (const row of rows) {
    endings.set(row.stream_id, [...(endings.get(row.stream_id) ?? []), row.type]);
    expect((row.data as { taskId: string }).taskId, `${row.type} of upload ${row.stream_id} names the task UploadStarted chose`).toBe((row.start as { taskId: string }).taskId);
  }
  expect([...endings].filter(([, types]) => types.length > 1), 'uploads completed or ended more than once').toEqual([]);
  if (inFlight.length === 0) return;
  const videos = await db.selectFrom('videos').select(['id', 'status', 'last_error']).where('id', 'in', [...inFlight]).execute();
  expect(videos, 'every upload in flight has its video').toHaveLength(inFlight.length);
  for (const video of videos) {
    const ended = video.status === 'FAILED' && ['UPLOAD_EXPIRED', 'UPLOAD_CANCELLED'].includes((video.last_error as { code?: string } | null)?.code ?? '');
    expect(video.status === 'UPLOADING' || ended, `upload ${video.id} in flight is ${video.status}`).toBe(true);
    expect(endings.get(video.id)?.includes('VideoUploaded') ?? false, `upload ${video.id} in flight has a task`).toBe(false);
  }
  const outbox = await db.selectFrom('outbox').select('stream_id').where('stream_id', 'in', [...inFlight]).execute();
  expect(outbox, 'outbox rows of uploads in flight').toEqual([]);
}

/** Matches a dead letter carrying the task of `videoId`. */
export const taskOf = (videoId: string) => (body: string) => body.includes(videoId);

/**
 * Segment tasks (split and stitch, DESIGN §11) of the given videos: each segment has at most one outcome
 * (SegmentEncoded or SegmentAbandoned) and each task at most one plan and one stitch request; a video
 * PROCESSED through a plan has exactly one stitch request, after which every range of the plan has exactly
 * one result, and exactly one VideoProcessed.
 */
export async function checkSegments(db: Db, statuses: ReadonlyMap<string, string>): Promise<void> {
  const videoIds = [...statuses.keys()];
  if (videoIds.length === 0) return;
  const segmentRows = await db.selectFrom('segments').select('id').where('video_id', 'in', videoIds).execute();
  const segmentIds = segmentRows.map((row) => row.id);
  const outcomes = segmentIds.length === 0 ? [] : await db.selectFrom('events').select(['stream_id', 'type']).where('stream_id', 'in', segmentIds).where('type', 'in', ['SegmentEncoded', 'SegmentAbandoned']).execute();
  const perSegment = new Map<string, number>();
  for (const row of outcomes) perSegment.set(row.stream_id, (perSegment.get(row.stream_id) ?? 0) + 1);
  expect([...perSegment].filter(([, count]) => count > 1), 'segments with more than one outcome').toEqual([]);

  const stages = await db.selectFrom('events').select(['stream_id', 'type', 'data']).where('stream_id', 'in', videoIds).where('type', 'in', ['VideoSplit', 'StitchRequested']).orderBy('position').execute();
  const perTask = new Map<string, number>();
  for (const row of stages) {
    const key = `${row.type}/${row.stream_id}/${(row.data as { taskId: string }).taskId}`;
    perTask.set(key, (perTask.get(key) ?? 0) + 1);
  }
  expect([...perTask].filter(([, count]) => count > 1), 'tasks planned or stitched more than once').toEqual([]);
  const encoded = new Set(outcomes.filter((row) => row.type === 'SegmentEncoded').map((row) => row.stream_id));
  for (const plan of stages.filter((row) => row.type === 'VideoSplit')) {
    const { taskId, ranges } = plan.data as { taskId: string; ranges: { segmentId: string }[] };
    if (statuses.get(plan.stream_id) !== 'PROCESSED') continue;
    const last = await db.selectFrom('videos').select('current_task_id').where('id', '=', plan.stream_id).executeTakeFirstOrThrow();
    if (last.current_task_id !== taskId) continue;
    expect(perTask.get(`StitchRequested/${plan.stream_id}/${taskId}`), `the one stitch of ${plan.stream_id}`).toBe(1);
    expect(ranges.filter((range) => !encoded.has(range.segmentId)), `ranges of ${plan.stream_id} without a result`).toEqual([]);
  }
}

/** How many stitches were requested for a video (over all its tasks). */
export async function stitchesOf(db: Db, videoId: string): Promise<number> {
  const rows = await db.selectFrom('events').select('type').where('stream_id', '=', videoId).where('type', '=', 'StitchRequested').execute();
  return rows.length;
}
