import * as tus from 'tus-js-client';
import { ApiError } from './api.js';

/** tus-js-client's default retry delays after a dropped connection (ms): it then asks the server's offset again. */
const RETRY_DELAYS_MS = [0, 1000, 3000, 5000];
const MIN_CHUNK_BYTES = 256 * 1024;
const MAX_CHUNK_BYTES = 8 * 1024 * 1024;
const OPEN_UPLOADS_KEY = 'framelog.openUploads';

/**
 * About 20 PATCH requests a file, within 256 KiB … 8 MiB: the server keeps every finished chunk, so Pause
 * and a dropped connection lose at most one chunk, without thousands of requests for a large file.
 */
export const chunkBytesFor = (sizeBytes: number): number => Math.min(MAX_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, Math.ceil(sizeBytes / 20)));

/** An upload created by createUpload and remembered in localStorage, so a reload can continue it. */
export interface OpenUpload {
  videoId: string;
  uploadUrl: string;
}

/** Same name, size and modification time: the same file, as far as a browser can tell. */
const fileKey = (file: File): string => `${file.name}|${file.size}|${file.lastModified}`;

function openUploads(): Record<string, OpenUpload> {
  try {
    return JSON.parse(localStorage.getItem(OPEN_UPLOADS_KEY) ?? '{}') as Record<string, OpenUpload>;
  } catch {
    return {};
  }
}

/** The open upload of this file from an earlier visit, if any. */
export const openUploadOf = (file: File): OpenUpload | undefined => openUploads()[fileKey(file)];

/** Remembers (or, with undefined, forgets) the open upload of this file. */
export function rememberUpload(file: File, upload: OpenUpload | undefined): void {
  const all = openUploads();
  if (upload === undefined) delete all[fileKey(file)];
  else all[fileKey(file)] = upload;
  localStorage.setItem(OPEN_UPLOADS_KEY, JSON.stringify(all));
}

export interface TusCallbacks {
  onProgress: (sentBytes: number, totalBytes: number) => void;
  onSuccess: () => void;
  onError: (error: ApiError) => void;
}

/** The API's error shape in a refused tus request's body ({ errors: [{ message, extensions: { code } }] }), as an ApiError. */
function apiErrorOf(error: Error): ApiError {
  const response = error instanceof tus.DetailedError ? error.originalResponse : null;
  try {
    const body = JSON.parse(response?.getBody() ?? '') as { errors?: { message: string; extensions?: { code?: string } }[] };
    const first = body.errors?.[0];
    if (first) return new ApiError(first.extensions?.code ?? 'INTERNAL', first.message);
  } catch {
    // Not the API's JSON (a proxy, a dropped connection): keep tus-js-client's message.
  }
  return new ApiError('NETWORK', `The upload was interrupted: ${error.message}`);
}

export interface TusUpload {
  start(): void;
  /** Aborts the request in flight; the server keeps the bytes it has. */
  pause(): Promise<void>;
  /** Aborts and DELETEs the upload: the video ends FAILED with UPLOAD_CANCELLED. */
  cancel(): Promise<void>;
}

/**
 * Sends `file` to an upload created by createUpload: `start()` asks the server's offset (HEAD) and PATCHes
 * the rest in chunks; `pause()` aborts the request in flight, keeping the upload for a later `start()`.
 */
export function tusUpload(file: File, uploadUrl: string, headers: Record<string, string>, callbacks: TusCallbacks): TusUpload {
  const upload = new tus.Upload(file, {
    uploadUrl,
    headers,
    chunkSize: chunkBytesFor(file.size),
    retryDelays: RETRY_DELAYS_MS,
    // Refusals (4xx but 409/423) are final; the API's code says why.
    onShouldRetry: (error) => {
      const status = error.originalResponse?.getStatus() ?? 0;
      return status === 0 || status === 409 || status === 423 || status >= 500;
    },
    onProgress: callbacks.onProgress,
    onSuccess: callbacks.onSuccess,
    onError: (error) => callbacks.onError(apiErrorOf(error)),
  });
  return { start: () => upload.start(), pause: () => upload.abort(false), cancel: () => upload.abort(true) };
}
