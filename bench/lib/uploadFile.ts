import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { UPLOAD_MUTATION, streamUpload } from '../../test/helpers/graphql.js';
import { waitFor } from '../../test/helpers/processes.js';
import type { Stack } from '../../test/helpers/stack.js';

/** Uploads `file` through `uploadVideo`; resolves with the video id once the API has answered. */
export async function uploadFile(apiUrl: string, file: string, title: string): Promise<string> {
  const { response } = streamUpload(`${apiUrl}/graphql`, {
    operations: { query: UPLOAD_MUTATION, variables: { file: null, title } },
    filePartHeader: ['Content-Disposition: form-data; name="0"; filename="clip.mp4"', 'Content-Type: video/mp4'],
    file: createReadStream(file, { highWaterMark: 1024 * 1024 }),
    bytes: (await stat(file)).size,
  });
  const answered = await response;
  const id = (JSON.parse(answered.body) as { data?: { uploadVideo?: { id?: string } } }).data?.uploadVideo?.id;
  if (answered.status !== 200 || id === undefined) throw new Error(`upload answered ${answered.status}: ${answered.body.slice(0, 500)}`);
  return id;
}

/** Epoch ms of the stream's outcome (`recorded_at`, the same clock as Date.now() here); throws on VideoFailed. */
export async function outcomeAt(pipeline: Stack, videoId: string): Promise<number> {
  return waitFor(
    async () => {
      const { rows } = await pipeline.database.pool.query<{ type: string; at: string; data: unknown }>(
        `select type, extract(epoch from recorded_at) * 1000 as at, data from events where stream_id = $1 and type in ('VideoProcessed', 'VideoFailed')`,
        [videoId],
      );
      const outcome = rows[0];
      if (outcome?.type === 'VideoFailed') throw new Error(`the video failed: ${JSON.stringify(outcome.data)}`);
      return outcome ? Number(outcome.at) : null;
    },
    { timeoutMs: 1_800_000, intervalMs: 100, message: `VideoProcessed for ${videoId}` },
  );
}
