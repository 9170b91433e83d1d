import type { VideoState } from '../domain/video.js';
import type { StreamBound } from '../eventstore/readStream.js';

/**
 * What a GraphQL `Video` resolves from: the folded state, and for a state of the past (`video(asOf:)`)
 * the bound it was folded to, so that its `history` (which also holds the segments' streams, DESIGN §11)
 * stops at the same point of the log instead of at the video's own last event.
 */
export type VideoModel = VideoState & { readonly asOf?: StreamBound };
