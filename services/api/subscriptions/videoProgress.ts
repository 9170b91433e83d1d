import type { ProgressNotice } from '../../eventstore/notifications.js';

/** A video's live progress as the API shows it: the percent, and for a split video each part's share so far. */
export interface VideoProgress {
  percent: number;
  /** Part key → weight × percent of the part (the most it reached): a split video's segments and stitch. */
  parts: ReadonlyMap<string, number>;
}

/**
 * The progress after a worker's notice. A whole transcode reports the video's percent. A split video's
 * tasks each report their part (DESIGN §11): the video's percent is the sum over parts of weight × the
 * part's percent (segments weighted by their duration), each part at the most it reached, so a retried
 * segment starting again at 0 never takes the video's progress back. Pure.
 */
export function nextProgress(previous: VideoProgress | undefined, notice: ProgressNotice): VideoProgress {
  if (notice.part === undefined) return { percent: notice.percent, parts: new Map() };
  const parts = new Map(previous?.parts ?? []);
  const { key, weight } = notice.part;
  parts.set(key, Math.max(parts.get(key) ?? 0, weight * notice.percent));
  let sum = 0;
  for (const share of parts.values()) sum += share;
  const percent = Math.min(100, Math.max(previous?.parts.size ? previous.percent : 0, Math.round(sum * 10) / 10));
  return { percent, parts };
}
