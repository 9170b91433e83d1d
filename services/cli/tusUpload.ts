import { createReadStream, ReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import * as tus from 'tus-js-client';

/** An upload opened by createUpload, remembered so that `--resume` can continue it. */
export interface OpenUpload {
  videoId: string;
  uploadUrl: string;
}

/**
 * Where open uploads are remembered between runs: `$XDG_STATE_HOME/framelog/uploads.json` (default
 * `~/.local/state`), keyed by API URL, the file's absolute path, size and modification time, so a
 * changed file never resumes into an old upload.
 */
export class OpenUploads {
  constructor(private readonly file: string = path.join(process.env.XDG_STATE_HOME || path.join(homedir(), '.local', 'state'), 'framelog', 'uploads.json')) {}

  static keyOf(baseUrl: string, filePath: string, size: number, mtimeMs: number): string {
    return [baseUrl, path.resolve(filePath), size, Math.trunc(mtimeMs)].join('|');
  }

  async get(key: string): Promise<OpenUpload | undefined> {
    return (await this.read())[key];
  }

  async set(key: string, upload: OpenUpload | undefined): Promise<void> {
    const all = await this.read();
    if (upload === undefined) delete all[key];
    else all[key] = upload;
    await mkdir(path.dirname(this.file), { recursive: true });
    // Written aside and renamed: a run killed mid-write leaves the previous list, not half of one.
    const temp = `${this.file}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(all, null, 2), { mode: 0o600 });
    await rename(temp, this.file);
  }

  private async read(): Promise<Record<string, OpenUpload>> {
    try {
      return JSON.parse(await readFile(this.file, 'utf8')) as Record<string, OpenUpload>;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw error;
    }
  }
}

export interface TusSendInput {
  filePath: string;
  uploadUrl: string;
  headers: Record<string, string>;
  onProgress?: (sentBytes: number, totalBytes: number) => void;
}

/**
 * Sends a file to an upload created by createUpload with tus-js-client: it asks the server for the
 * offset first (HEAD), sends the rest, and after a dropped connection retries from the server's offset
 * (its default delays: 0, 1, 3, 5 s). The file is read from disk in 1 MiB reads (largeReadFiles), never
 * held in memory; the client's default chunking stays (the rest of the file in one PATCH).
 */
export function tusSend(input: TusSendInput): Promise<void> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(createReadStream(input.filePath), {
      uploadUrl: input.uploadUrl,
      headers: input.headers,
      fileReader: largeReadFiles,
      onProgress: input.onProgress ?? null,
      onSuccess: () => resolve(),
      onError: reject,
    });
    upload.start();
  });
}

/** Bytes per read of the file being sent: the size the raw baseline client of the benchmarks reads. */
const READ_BYTES = 1024 * 1024;

type FileReader = NonNullable<tus.UploadOptions['fileReader']>;
type FileSource = Awaited<ReturnType<FileReader['openFile']>>;

/**
 * tus-js-client's reader of a file stream, reading READ_BYTES at a time. The library's own (4.x, Node)
 * slices the file with fs.createReadStream's default 64 KiB reads and pipes every slice through its
 * progress transform into the request: per-chunk work that made tusSend half of a 1 GB upload's gap to
 * a plain streamed request. Otherwise it behaves as the library's: `slice(start, end)` is a stream of the
 * bytes [start, end) with a `size` (the PATCH's Content-Length), and `close` destroys the given stream.
 */
const largeReadFiles: FileReader = {
  async openFile(input: unknown): Promise<FileSource> {
    if (!(input instanceof ReadStream) || typeof input.path !== 'string') throw new Error('tusSend reads files only: pass an fs.ReadStream of a path');
    const file = input;
    const filePath = input.path;
    const { size } = await stat(filePath);
    return {
      size,
      slice: (start, end) => {
        const bytes = Math.max(0, Math.min(end, size) - start);
        const done = start + bytes >= size;
        // No body for an empty slice (the client sends the PATCH without one); createReadStream's `end` is inclusive.
        if (bytes === 0) return Promise.resolve({ value: null, done });
        const stream = Object.assign(createReadStream(filePath, { start, end: start + bytes - 1, highWaterMark: READ_BYTES }), { size: bytes });
        return Promise.resolve({ value: stream, done });
      },
      close: () => file.destroy(),
    };
  },
};
