import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, uploadFile } from '../helpers/graphql.js';
import { makeClip } from '../helpers/media.js';
import { PlayerPage } from '../helpers/players.js';
import { waitFor } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';

/**
 * Split and stitch end to end (DESIGN §11): a video longer than SPLIT_MIN_SECONDS, uploaded through the
 * API, is planned into ranges, its segments are encoded by two workers, one stitch joins them, and hls.js
 * plays the result across every join. Small SPLIT_MIN_SECONDS/SEGMENT_SECONDS keep the media short.
 */

const QUERY = `query Split($id: ID!) {
  video(id: $id) { status progress lastError { code message } streaming { hlsUrl } media { durationSeconds }
    history { position type streamId data metadata recordedAt } }
  audit(streamId: $id) { ok }
}`;

const AS_OF = `query SplitAsOf($id: ID!, $asOf: AsOf!) {
  video(id: $id, asOf: $asOf) { status history { position } }
}`;

interface Event {
  position: string;
  type: string;
  streamId: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  recordedAt: string;
}
interface Result {
  video: { status: string; progress: number | null; lastError: { code: string } | null; streaming: { hlsUrl: string } | null; media: { durationSeconds: number } | null; history: Event[] };
  audit: { ok: boolean };
}

let stack: Stack;
let clips: string;
let player: PlayerPage;

beforeAll(async () => {
  clips = await mkdtemp(path.join(tmpdir(), 'framelog-split-'));
  stack = await Stack.start({ workers: 2, env: { SPLIT_MIN_SECONDS: '6', SEGMENT_SECONDS: '4', FFMPEG_THREADS: '1' } });
  player = await PlayerPage.open();
});
afterAll(async () => {
  await player?.close();
  await stack?.close();
  await rm(clips, { recursive: true, force: true });
});

const query = async (id: string): Promise<Result> => {
  const response = await gql<Result>(stack.apiUrl, QUERY, { id });
  expect(response.errors).toBeUndefined();
  return response.data!;
};

/**
 * The video as it was when its first segment was encoded: its state is folded from its own events before
 * that point, and its history holds every event of the video and its segments up to that point, not only
 * those up to the video's own last event (VideoSplit).
 */
async function expectHistoryAsOf(id: string, history: readonly Event[], at: Event): Promise<void> {
  const asOf = async (bound: { position: string } | { time: string }) => {
    const response = await gql<{ video: { status: string; history: { position: string }[] } }>(stack.apiUrl, AS_OF, { id, asOf: bound });
    expect(response.errors).toBeUndefined();
    return response.data!.video;
  };
  const byPosition = await asOf({ position: at.position });
  expect(byPosition.status).toBe('PROCESSING');
  expect(byPosition.history.map((e) => e.position)).toEqual(history.filter((e) => BigInt(e.position) <= BigInt(at.position)).map((e) => e.position));
  const byTime = await asOf({ time: at.recordedAt });
  expect(byTime.history.map((e) => e.position)).toEqual(history.filter((e) => Date.parse(e.recordedAt) <= Date.parse(at.recordedAt)).map((e) => e.position));
}

describe('a long video split across two workers', () => {
  it('goes upload → PROCESSING through its segments → PROCESSED, with one stitch, progress never going back, and plays across every join', async () => {
    const file = await makeClip(clips, { width: 640, height: 360, durationSeconds: 13, audio: true });
    const upload = await uploadFile(stack.apiUrl, file);
    expect(upload.body.errors).toBeUndefined();
    const id = upload.body.data!.uploadVideo.id;

    const progress: number[] = [];
    const statuses = new Set<string>();
    const done = await waitFor(
      async () => {
        const { video } = await query(id);
        statuses.add(video.status);
        if (video.progress !== null) progress.push(video.progress);
        if (video.status === 'FAILED') throw new Error(`video failed: ${JSON.stringify(video.lastError)}`);
        return video.status === 'PROCESSED' ? video : null;
      },
      { timeoutMs: 240_000, intervalMs: 200, message: 'the split video to be processed' },
    );
    // The GraphQL status stays PROCESSING through the segments: no new status.
    expect([...statuses].every((s) => ['QUEUED', 'PROCESSING', 'PROCESSED'].includes(s))).toBe(true);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));

    const videoEvents = done.history.filter((e) => e.streamId === id).map((e) => e.type);
    expect(videoEvents).toEqual(['VideoUploaded', 'ProcessingStarted', 'VideoSplit', 'StitchRequested', 'ProcessingStarted', 'VideoProcessed']);
    const split = done.history.find((e) => e.type === 'VideoSplit')!;
    const ranges = split.data.ranges as { segmentId: string; startSeconds: number; endSeconds: number }[];
    expect(ranges.map((r) => [r.startSeconds, r.endSeconds])).toEqual([[0, 4], [4, 8], [8, 13]]);
    const encoded = done.history.filter((e) => e.type === 'SegmentEncoded');
    expect(encoded.map((e) => e.streamId).sort()).toEqual(ranges.map((r) => r.segmentId).sort());
    expect(done.media!.durationSeconds).toBeCloseTo(13, 0);
    expect((await query(id)).audit.ok).toBe(true);
    await expectHistoryAsOf(id, done.history, encoded[0]!);

    const report = await player.playHls(new URL(done.streaming!.hlsUrl, stack.apiUrl).toString(), 9.5);
    expect(report.errors).toEqual([]);
    expect(report.stalls).toBe(0);
    expect(report.currentTime).toBeGreaterThan(9.5);
  });
});
