import { z } from 'zod';

/**
 * The events of a video stream (DESIGN §3). Their names and data fields are a contract read by
 * outside tools: add optional fields freely, never rename or remove one.
 */

export const MediaInfoSchema = z.object({
  durationSeconds: z.number().nonnegative(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  videoCodec: z.string().min(1),
  audioCodec: z.string().nullable(),
  frameRate: z.number().positive().nullable(),
  /** Clockwise display rotation in degrees (0, 90, 180, 270). */
  rotation: z.number().int(),
  formatName: z.string().optional(),
});
export type MediaInfo = z.infer<typeof MediaInfoSchema>;

export const RenditionSchema = z.object({
  label: z.string().min(1),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  sizeBytes: z.number().int().nonnegative(),
  storageKey: z.string().min(1),
});
export type Rendition = z.infer<typeof RenditionSchema>;

export const PosterSchema = z.object({
  storageKey: z.string().min(1),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});
export type Poster = z.infer<typeof PosterSchema>;

/** Something the renditions lack that the upload had, e.g. an audio track ffmpeg cannot decode. */
export const MediaWarningSchema = z.object({
  /** Stable code, e.g. AUDIO_NOT_DECODABLE. */
  code: z.string().min(1),
  message: z.string(),
});
export type MediaWarning = z.infer<typeof MediaWarningSchema>;

export const StreamVariantSchema = z.object({
  label: z.string().min(1),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  frameRate: z.number().positive().nullable(),
  /** RFC 6381 codecs of the variant as the master playlist lists them, e.g. "avc1.64001f,mp4a.40.2". */
  codecs: z.string().min(1),
  /** Measured peak segment bitrate, video plus audio, bits per second (HLS BANDWIDTH). */
  bandwidth: z.number().int().positive(),
  /** Measured average bitrate, video plus audio, bits per second (HLS AVERAGE-BANDWIDTH). */
  averageBandwidth: z.number().int().positive(),
  /** The variant's HLS media playlist. */
  playlistKey: z.string().min(1),
});
export type StreamVariant = z.infer<typeof StreamVariantSchema>;

/** The adaptive-streaming outputs of one encode (DESIGN §10): HLS and DASH over the same CMAF segments. */
export const StreamingSchema = z.object({
  /** HLS master playlist. */
  hlsKey: z.string().min(1),
  /** DASH MPD. */
  dashKey: z.string().min(1),
  /** Media segments per rendition (video and audio alike). */
  segmentCount: z.number().int().positive(),
  /** Target segment duration in seconds. */
  segmentSeconds: z.number().positive(),
  variants: z.array(StreamVariantSchema).min(1),
  /** HLS media playlist of the audio; null for a video without audio. */
  audioPlaylistKey: z.string().min(1).nullable(),
});
export type Streaming = z.infer<typeof StreamingSchema>;

const taskId = z.uuid();
const attempt = z.number().int().positive();

export const VideoUploadedData = z.object({
  /** The task this upload starts; its message carries the same id. */
  taskId,
  title: z.string().nullable(),
  originalFilename: z.string(),
  contentType: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  storageKey: z.string().min(1),
});

export const ProcessingStartedData = z.object({ taskId, attempt, workerId: z.string().min(1) });

export const VideoProcessedData = z.object({
  taskId,
  attempt,
  media: MediaInfoSchema,
  renditions: z.array(RenditionSchema),
  poster: PosterSchema.nullable(),
  /** Absent on events recorded before adaptive streaming. */
  streaming: StreamingSchema.optional(),
  elapsedMs: z.number().nonnegative(),
  /** What the renditions lack and why; absent when nothing is missing. */
  warnings: z.array(MediaWarningSchema).optional(),
});

export const ProcessingFailedData = z.object({
  taskId,
  attempt,
  code: z.string().min(1),
  message: z.string(),
  retryable: z.boolean(),
  nextAttemptAt: z.iso.datetime({ offset: true }).nullable().optional(),
  /**
   * The attempt did not fail: it was stopped from outside (worker shutdown) and the task is requeued.
   * It counts neither as an attempt nor as a crashed delivery (DESIGN §4, SIGTERM).
   */
  interrupted: z.boolean().optional(),
});

export const VideoFailedData = z.object({
  taskId,
  attempts: z.number().int().nonnegative(),
  code: z.string().min(1),
  message: z.string(),
});

export const RetryRequestedData = z.object({
  taskId,
  requestedBy: z.string().min(1),
  reason: z.string().nullable(),
});

/**
 * A resumable upload was opened (createUpload, DESIGN §12): the video exists, its bytes are on the
 * way over tus. The task id is chosen now and carried by the VideoUploaded that completes the upload.
 */
export const UploadStartedData = z.object({
  taskId,
  title: z.string().nullable(),
  originalFilename: z.string(),
  /** Declared by the client; the upload is refused if it sends more, and completes at exactly this. */
  sizeBytes: z.number().int().positive(),
  /** Where the bytes accumulate; VideoUploaded names the same key once they are complete. */
  storageKey: z.string().min(1),
  /** The token name that opened it: only that principal may send, resume or cancel the upload. */
  owner: z.string().min(1),
  /** After this instant an unfinished upload is ended with UploadExpired and its bytes removed. */
  expiresAt: z.iso.datetime({ offset: true }),
});

/** An upload not finished by its `expiresAt`; its bytes were removed. The video is FAILED (UPLOAD_EXPIRED). */
export const UploadExpiredData = z.object({ taskId, receivedBytes: z.number().int().nonnegative() });

/** The owner ended an unfinished upload (tus DELETE); its bytes were removed. FAILED (UPLOAD_CANCELLED). */
export const UploadCancelledData = z.object({ taskId, receivedBytes: z.number().int().nonnegative(), requestedBy: z.string().min(1) });

/** A time range of the source, on GOP boundaries, encoded by one `segment` task (DESIGN §11). */
export const PlannedRangeSchema = z.object({
  index: z.number().int().nonnegative(),
  startSeconds: z.number().nonnegative(),
  endSeconds: z.number().positive(),
  /** The segment's task id, also the id of its own stream (type `segment`) where its attempts and result land. */
  segmentId: z.uuid(),
});
export type PlannedRange = z.infer<typeof PlannedRangeSchema>;

/**
 * The task's attempt probed a long video and planned it into ranges instead of encoding it (split and
 * stitch, DESIGN §11): one `segment` task per range went out with this event. The video stays PROCESSING.
 */
export const VideoSplitData = z.object({
  taskId,
  attempt,
  /** The probed duration the plan covers, seconds. */
  durationSeconds: z.number().positive(),
  /** SEGMENT_SECONDS when planned: every range but the last is this long. */
  segmentSeconds: z.number().positive(),
  ranges: z.array(PlannedRangeSchema).min(2),
});

/** Every range of the task's plan has its result: the one `stitch` task went out with this event. */
export const StitchRequestedData = z.object({
  taskId,
  /** Ranges encoded (all of the plan's). */
  segments: z.number().int().positive(),
});

export const eventDataSchemas = {
  UploadStarted: UploadStartedData,
  UploadExpired: UploadExpiredData,
  UploadCancelled: UploadCancelledData,
  VideoUploaded: VideoUploadedData,
  ProcessingStarted: ProcessingStartedData,
  VideoProcessed: VideoProcessedData,
  ProcessingFailed: ProcessingFailedData,
  VideoFailed: VideoFailedData,
  RetryRequested: RetryRequestedData,
  VideoSplit: VideoSplitData,
  StitchRequested: StitchRequestedData,
} as const;

export type EventType = keyof typeof eventDataSchemas;
/** Events that end a task; the database allows one of them per (stream, taskId). */
export const TERMINAL_EVENT_TYPES = ['VideoProcessed', 'VideoFailed'] as const satisfies readonly EventType[];

/** A video event as the domain sees it: a discriminated union checked exhaustively by `evolve`. */
export type VideoEvent = {
  [K in EventType]: { type: K; data: z.infer<(typeof eventDataSchemas)[K]> };
}[EventType];
export type EventOf<K extends EventType> = Extract<VideoEvent, { type: K }>;

export const EventMetadataSchema = z.object({
  correlationId: z.uuid(),
  /** The event id of the event (or the message) that caused this one. */
  causationId: z.uuid().nullable().optional(),
  taskId: z.uuid().nullable().optional(),
  actor: z.string().min(1),
  workerId: z.string().nullable().optional(),
  attempt: z.number().int().nullable().optional(),
  traceparent: z.string().nullable().optional(),
});
export type EventMetadata = z.infer<typeof EventMetadataSchema>;

/** A W3C trace context header (https://www.w3.org/TR/trace-context/#traceparent-header): version-traceid-parentid-flags. */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The request's trace context if it sent a well-formed one; anything else is ignored, never an error. */
export const traceparentOf = (header: unknown): string | undefined => (typeof header === 'string' && TRACEPARENT.test(header) && !header.startsWith('ff') ? header : undefined);

/** Where and when an event stands in the log. */
export interface EventEnvelope {
  readonly position: bigint;
  readonly streamId: string;
  readonly version: number;
  readonly eventId: string;
  readonly metadata: EventMetadata;
  readonly recordedAt: Date;
  /** sha256 (hex) chained to the previous event of the stream, computed by the database. */
  readonly hash: string;
}

/** An event as it stands in the log (distributes over the union, so `type` still narrows `data`). */
export type RecordedEvent<E extends VideoEvent = VideoEvent> = E extends VideoEvent ? EventEnvelope & E : never;

/** Parses an event read from storage or built by code; throws a ZodError naming the bad field. */
export function parseEvent(type: string, data: unknown): VideoEvent {
  if (!(type in eventDataSchemas)) throw new Error(`Unknown event type ${JSON.stringify(type)}`);
  const schema = eventDataSchemas[type as EventType];
  return { type, data: schema.parse(data) } as VideoEvent;
}
