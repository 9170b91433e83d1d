import type { MediaProcessor } from '../media/processVideo.js';

/**
 * A processor that does no media work (PROCESSOR=noop): it answers at once with a placeholder
 * description and no renditions. For measuring the pipeline itself (broker, log, outbox) without
 * ffmpeg's cost; never for real uploads.
 */
export function createNoopProcessor(): MediaProcessor {
  return {
    process() {
      return Promise.resolve({
        media: { durationSeconds: 0, width: 1, height: 1, videoCodec: 'none', audioCodec: null, frameRate: null, rotation: 0 },
        renditions: [],
        poster: null,
      });
    },
    removeTemps: () => Promise.resolve(),
  };
}
