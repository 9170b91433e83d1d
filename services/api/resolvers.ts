import { GraphQLScalarType, Kind } from 'graphql';
import { GraphQLUpload } from 'graphql-upload-minimal';
import type { Resolvers } from '../../schema/generated/graphql.js';
import { ErrorCode, FramelogError } from '../domain/errors.js';
import { fold, hasProgress, latestStreaming, type VideoState } from '../domain/video.js';
import { auditLog } from '../eventstore/audit.js';
import { readAll } from '../eventstore/readAll.js';
import { rebuildProjections } from '../eventstore/rebuild.js';
import { readStream, readVideoHistory } from '../eventstore/readStream.js';
import { listVideos, loadVideo } from '../eventstore/videos.js';
import { retryVideo } from './commands/retryVideo.js';
import { createUpload } from './commands/createUpload.js';
import { uploadVideo } from './commands/uploadVideo.js';
import { UPLOADS_PATH } from './uploads/tusServer.js';
import { decodeVideoCursor, encodeVideoCursor, parseFirst, parseId, parsePosition } from './input.js';
import { openUpload } from './upload.js';

const DateTime = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An ISO-8601 timestamp in UTC.',
  serialize: (value) => (value instanceof Date ? value : new Date(String(value))).toISOString(),
  parseValue: (value) => parseDate(value),
  parseLiteral: (ast) => parseDate(ast.kind === Kind.STRING ? ast.value : undefined),
});

function parseDate(value: unknown): Date {
  const date = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
  // JavaScript dates reach 271 821 BC; PostgreSQL's timestamptz only 4713 BC. Four-digit years are enough.
  const year = date.getUTCFullYear();
  if (Number.isNaN(year) || year < 1 || year > 9999) {
    throw new FramelogError(ErrorCode.BAD_USER_INPUT, 'DateTime must be an ISO-8601 string between the years 0001 and 9999, e.g. 2026-01-31T12:00:00Z.');
  }
  return date;
}

const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  description: 'Any JSON value.',
  serialize: (value) => value,
  parseValue: (value) => value,
});

const mediaUrl = (base: string, key: string) => `${base}/media/${key}`;

export const resolvers: Resolvers = {
  Upload: GraphQLUpload,
  DateTime,
  JSON: JSONScalar,

  Query: {
    me: (_parent, _args, { actor, role }) => ({ name: actor, role }),

    async video(_parent, { id, asOf }, { deps }) {
      const videoId = parseId(id);
      if (!asOf) return loadVideo(deps.db, videoId);
      if ((asOf.position == null) === (asOf.time == null)) {
        throw new FramelogError(ErrorCode.BAD_USER_INPUT, 'asOf takes exactly one of position or time.');
      }
      const bound = asOf.position != null ? { toPosition: parsePosition(asOf.position, 'asOf.position') } : { toTime: asOf.time! };
      const state = fold(await readStream(deps.db, videoId, bound));
      return state === null ? null : { ...state, asOf: bound };
    },

    async videos(_parent, { status, first, after }, { deps }) {
      const limit = parseFirst(first, 20, 100);
      const page = await listVideos(deps.db, {
        ...(status ? { status } : {}),
        ...(after ? { beforePosition: decodeVideoCursor(after) } : {}),
        limit: limit + 1,
      });
      const nodes = page.slice(0, limit);
      const last = nodes.at(-1);
      return {
        edges: nodes.map((node) => ({ cursor: encodeVideoCursor(node.createdPosition), node })),
        pageInfo: { hasNextPage: page.length > limit, endCursor: last ? encodeVideoCursor(last.createdPosition) : null },
      };
    },

    async events(_parent, { streamId, afterPosition, first, types }, { deps }) {
      const limit = parseFirst(first, 100, 1_000);
      const page = await readAll(deps.db, {
        ...(streamId ? { streamId: parseId(streamId, 'streamId') } : {}),
        ...(afterPosition ? { afterPosition: parsePosition(afterPosition, 'afterPosition') } : {}),
        ...(types ? { types } : {}),
        limit: limit + 1,
      });
      const nodes = page.slice(0, limit);
      const last = nodes.at(-1);
      return {
        edges: nodes.map((node) => ({ cursor: node.position.toString(), node })),
        pageInfo: { hasNextPage: page.length > limit, endCursor: last ? last.position.toString() : null },
      };
    },

    async audit(_parent, { streamId }, { deps }) {
      return auditLog(deps.db, streamId ? { streamId: parseId(streamId, 'streamId') } : {});
    },
  },

  Mutation: {
    async uploadVideo(_parent, { file, title }, { deps, actor, correlationId, traceparent }) {
      const upload = await openUpload(file);
      const video = await uploadVideo(deps, {
        ...upload,
        title: title ?? null,
        actor,
        correlationId,
        ...(traceparent === undefined ? {} : { traceparent }),
      });
      deps.metrics.uploads.inc();
      deps.metrics.uploadBytes.inc(video.sizeBytes);
      return video;
    },
    async createUpload(_parent, { filename, sizeBytes, title }, { deps, actor, correlationId, origin }) {
      const { video, expiresAt } = await createUpload(
        { db: deps.db, resumable: deps.tus.store, maxUploadBytes: deps.maxUploadBytes, uploadExpiryMs: deps.uploadExpiryMs, log: deps.log },
        { filename, sizeBytes, title: title ?? null, actor, correlationId },
      );
      return { video, uploadUrl: `${origin}${UPLOADS_PATH}/${video.id}`, expiresAt };
    },
    async retryVideo(_parent, { id }, { deps, actor, correlationId, traceparent }) {
      return retryVideo(deps.db, { videoId: parseId(id), actor, correlationId, ...(traceparent === undefined ? {} : { traceparent }) });
    },
    async rebuildProjections(_parent, _args, { deps, log }) {
      const report = await rebuildProjections(deps.db);
      log.info(report, 'projections rebuilt');
      return report;
    },
  },

  Subscription: {
    videoUpdated: {
      subscribe: (_parent, { id }, { deps }) => deps.videoUpdates.subscribe(id ? parseId(id) : null),
      resolve: (video: VideoState) => video,
    },
  },

  Video: {
    sizeBytes: (video) => video.sizeBytes,
    lastError: (video) => video.lastError,
    media: (video) => video.media,
    renditions: (video) => video.renditions,
    posterUrl: (video, _args, { deps }) => (video.poster ? mediaUrl(deps.mediaBaseUrl, video.poster.storageKey) : null),
    // Only a PROCESSED video has streams; reading its stream costs a query only when the field is asked for.
    async streaming(video, _args, { deps }) {
      if (video.status !== 'PROCESSED') return null;
      const streaming = latestStreaming(await readStream(deps.db, video.id, { toPosition: video.lastPosition }));
      return streaming === null
        ? null
        : { hlsUrl: mediaUrl(deps.mediaBaseUrl, streaming.hlsKey), dashUrl: mediaUrl(deps.mediaBaseUrl, streaming.dashKey) };
    },
    // Reported through NOTIFY (by workers while transcoding, by the tus server while bytes arrive) and kept
    // in memory by each API process: never an event.
    progress: (video, _args, { deps }) => (hasProgress(video.status) ? deps.videoUpdates.progressOf(video.id) : null),
    // A split video's segments, in their own streams, are part of its history, up to the same point of
    // the log as the state (asOf), not to the video's own last event.
    history: (video, _args, { deps }) => readVideoHistory(deps.db, video.id, video.asOf),
  },

  Rendition: {
    url: (rendition, _args, { deps }) => mediaUrl(deps.mediaBaseUrl, rendition.storageKey),
  },

  AuditMismatch: {
    position: (mismatch) => mismatch.position?.toString() ?? null,
  },

  VideoEvent: {
    position: (event) => event.position.toString(),
    data: (event) => event.data,
    metadata: (event) => event.metadata,
  },
};
