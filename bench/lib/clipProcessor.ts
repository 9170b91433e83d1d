import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../services/config.js';
import { sourceKey } from '../../services/media/keys.js';
import { LocalDiskStorage } from '../../services/media/storage.js';
import { createProcessor } from '../../services/main/startWorker.js';
import { makeClip } from '../../test/helpers/media.js';

/**
 * A lavfi clip (30 fps, with audio) stored as an upload under `dir/media`, and a function that runs the
 * worker's media processor on it exactly as a worker composes it with the default settings
 * (PROCESSOR=ffmpeg). Shared by the ffmpeg benchmark and the clip CPU measurement.
 */
export async function clipProcessor(dir: string, clip: { width: number; height: number; seconds: number }): Promise<() => Promise<unknown>> {
  const mediaRoot = path.join(dir, 'media');
  const file = await makeClip(dir, { width: clip.width, height: clip.height, durationSeconds: clip.seconds, audio: true, fps: 30 });
  const storage = new LocalDiskStorage(mediaRoot);
  const videoId = randomUUID();
  await storage.writeStream(sourceKey(videoId), createReadStream(file), { maxBytes: 2 ** 40 });
  const processor = createProcessor(loadConfig({ MEDIA_ROOT: mediaRoot }), storage);
  return () => processor.process({ videoId, sourceKey: sourceKey(videoId) });
}
