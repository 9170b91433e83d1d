import { fileURLToPath } from 'node:url';

/**
 * ffmpeg and ffprobe as framelog starts them: through the wrappers in bin/, which make each die with the
 * process that started it, even when that process is SIGKILLed (no orphan transcoding beside the retry).
 * They honour FFMPEG_PATH / FFPROBE_PATH as fluent-ffmpeg does. `npm run build` copies them beside the
 * compiled code.
 */
export const FFMPEG_LAUNCHER = fileURLToPath(new URL('./bin/ffmpeg', import.meta.url));
export const FFPROBE_LAUNCHER = fileURLToPath(new URL('./bin/ffprobe', import.meta.url));
