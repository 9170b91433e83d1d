import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import path from 'node:path';
import { EVENTS, Server, type Locker, type Upload } from '@tus/server';
import { z } from 'zod';
import { expiredError, isExpired, notUploading } from '../../domain/decide.js';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import { VideoStatus, hasSource } from '../../domain/video.js';
import type { Db } from '../../eventstore/db.js';
import { loadUploadStart } from '../../eventstore/uploads.js';
import { loadVideo } from '../../eventstore/videos.js';
import { RESUMABLE_PREFIX } from '../../media/keys.js';
import type { StorageSettings } from '../../media/storage/create.js';
import type { Logger } from '../../logger.js';
import type { Authenticator, Principal } from '../auth/authenticate.js';
import { can } from '../auth/roles.js';
import { endUpload } from '../commands/endUpload.js';
import { finishUpload, type Actor } from '../commands/finishUpload.js';
import { FileUploadStore } from './fileUploadStore.js';
import { resumableStoreOf, type ResumableStore, type UploadDataStore } from './resumableStore.js';
import { S3UploadStore } from './s3UploadStore.js';
import { mapTusError, tusRefusal } from './tusErrors.js';
import { requestBody, sendWebResponse, webRequestOf } from './webExchange.js';

/** Where the tus endpoint is mounted; an upload's URL is `${UPLOADS_PATH}/<video id>`. */
export const UPLOADS_PATH = '/uploads';

export interface TusUploadsDeps {
  db: Db;
  log: Logger;
  authenticate: Authenticator;
  /** Received bytes in percent, throttled and sent on to `videoUpdated` by the caller. */
  reportProgress: (videoId: string, percent: number) => void;
}

export interface TusUploadsOptions {
  /** Where the bytes go: the tus data store of the STORAGE backend (dataStoreFor, opened by the entry point). */
  datastore: UploadDataStore;
  /** Serialises the requests of one upload across API processes (PgAdvisoryLocker). */
  locker: Locker;
}

export interface TusUploads {
  store: ResumableStore;
  /** Answers any request under UPLOADS_PATH. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;
}

const videoId = z.uuid();
const correlationHeader = z.uuid();

/**
 * The tus data store of a STORAGE backend: with `local`, the tus file store under MEDIA_ROOT's
 * `resumable/` directory (keys `resumable/<id>`, FileUploadStore); with `s3`, @tus/s3-store on the bucket at the same keys
 * (S3UploadStore).
 */
export function dataStoreFor(storage: StorageSettings): UploadDataStore {
  return storage.kind === 'local' ? new FileUploadStore({ directory: path.join(path.resolve(storage.root), RESUMABLE_PREFIX) }) : new S3UploadStore(storage);
}

/**
 * The tus 1.0 endpoint for resumable uploads (DESIGN §12), on @tus/server with the data store of the
 * STORAGE backend (dataStoreFor). Uploads are created by the createUpload mutation, never by a tus POST: an upload's id is its video's id. Every
 * request carries the API's bearer token; only the principal that opened an upload may HEAD, PATCH or
 * DELETE it. The last byte completes the upload (finishUpload), a DELETE cancels it (endUpload).
 */
export function createTusUploads(deps: TusUploadsDeps, options: TusUploadsOptions): TusUploads {
  const { datastore } = options;
  const store = resumableStoreOf(datastore);
  const server = new Server({
    path: UPLOADS_PATH,
    datastore,
    locker: options.locker,
    // A tus POST would create an upload without a video: createUpload creates both, named by the video.
    namingFunction: () => {
      throw tusRefusal(new FramelogError(ErrorCode.BAD_USER_INPUT, 'Uploads are opened with the createUpload mutation; send the bytes to its uploadUrl.'));
    },
    onIncomingRequest: (req, id) => checkRequest(deps, store, req, id),
    onUploadFinish: async (req, upload) => {
      await finishUpload({ ...deps, resumable: store }, upload.id, await actorOf(deps, req)).catch((error: unknown) => {
        throw tusRefusal(error);
      });
      return {};
    },
    onResponseError: (_req, error) => {
      const refusal = mapTusError(error);
      if (refusal.status_code >= 500) deps.log.error({ err: error }, 'tus request failed');
      return { status_code: refusal.status_code, body: refusal.body };
    },
  });
  server.on(EVENTS.POST_RECEIVE, (_req: unknown, upload: Upload) => {
    if (upload.size) deps.reportProgress(upload.id, (upload.offset / upload.size) * 100);
  });
  // Through handleWeb with our own body stream rather than handle(): srvx's adapter passes the socket's
  // ~64 KiB chunks one by one through every stage of the PATCH; requestBody hands on what has arrived.
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = requestBody(req);
    try {
      await sendWebResponse(res, await server.handleWeb(webRequestOf(req, body.stream)));
    } finally {
      body.release();
    }
  };
  return { store, handle };
}

async function principalOf(deps: TusUploadsDeps, req: Request): Promise<Principal> {
  return deps.authenticate(req.headers.get('authorization') ?? undefined);
}

async function actorOf(deps: TusUploadsDeps, req: Request): Promise<Actor> {
  const header = req.headers.get('x-correlation-id');
  const correlationId = header !== null && correlationHeader.safeParse(header).success ? header : randomUUID();
  return { actor: (await principalOf(deps, req)).name, correlationId };
}

/** Authenticates, checks that the upload exists, is the caller's and takes this request; a DELETE cancels it. */
async function checkRequest(deps: TusUploadsDeps, store: ResumableStore, req: Request, id: string): Promise<void> {
  try {
    const principal = await principalOf(deps, req);
    if (!can(principal.role, 'write')) throw new FramelogError(ErrorCode.FORBIDDEN, `The role "${principal.role}" may not upload.`);
    if (req.method === 'GET') throw new FramelogError(ErrorCode.NOT_FOUND, 'Uploads cannot be downloaded; processed videos are served under /media.');
    const notFound = new FramelogError(ErrorCode.NOT_FOUND, `No upload at ${UPLOADS_PATH}/${id.slice(0, 100)}.`);
    if (!videoId.safeParse(id).success) throw notFound;
    const [start, state] = await Promise.all([loadUploadStart(deps.db, id), loadVideo(deps.db, id)]);
    if (start === null || state === null) throw notFound;
    if (start.owner !== principal.name) throw new FramelogError(ErrorCode.FORBIDDEN, 'This upload belongs to another principal; send it with the token that created it.');
    // HEAD after completion still answers, so a client that lost the last response learns it is done.
    if (req.method === 'HEAD' && hasSource(state)) return;
    if (state.status !== VideoStatus.UPLOADING) throw notUploading(state);
    if (isExpired(start, new Date())) throw expiredError(start);
    // The event first: once UploadCancelled is in the log no PATCH or completion is accepted; tus's
    // DELETE handler then removes the bytes under the upload's lock.
    if (req.method === 'DELETE') await endUpload({ db: deps.db, resumable: store }, id, { kind: 'cancelled' }, await actorOf(deps, req));
  } catch (error) {
    throw tusRefusal(error);
  }
}
