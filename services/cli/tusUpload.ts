import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
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
 * (its default delays: 0, 1, 3, 5 s). The file is read from disk in slices, never held in memory.
 */
export function tusSend(input: TusSendInput): Promise<void> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(createReadStream(input.filePath), {
      uploadUrl: input.uploadUrl,
      headers: input.headers,
      onProgress: input.onProgress ?? null,
      onSuccess: () => resolve(),
      onError: reject,
    });
    upload.start();
  });
}
