import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import type { LocalFile } from './types.js';

const PROCESS_DIR = /^(\d+)-[0-9a-f]{8}$/;

/**
 * A process's local working space for a remote store (SCRATCH_DIR): downloaded sources and outputs before
 * they are uploaded. Each process works in `<dir>/<pid>-<random>/`, each attempt in a directory of its own
 * there, removed when the attempt ends however it ends; the directories of processes that are gone (killed
 * mid-attempt) are removed when the next process first uses the scratch space.
 */
export class Scratch {
  private root: Promise<string> | undefined;

  constructor(readonly dir: string) {}

  /** A new empty directory for one attempt's files; the caller removes it (`removeAttemptDir`). */
  async attemptDir(prefix = 'attempt-'): Promise<string> {
    this.root ??= this.prepare();
    return mkdtemp(path.join(await this.root, prefix));
  }

  /** The process's own directory, after removing those of processes that no longer run. */
  private async prepare(): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const stale = (await readdir(this.dir)).filter((name) => {
      const pid = PROCESS_DIR.exec(name)?.[1];
      // Our own pid on an existing directory is an earlier process's (pid 1 in every container).
      return pid !== undefined && (Number(pid) === process.pid || !isRunning(Number(pid)));
    });
    await Promise.all(stale.map((name) => rm(path.join(this.dir, name), { recursive: true, force: true })));
    const own = path.join(this.dir, `${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(own, { recursive: true });
    return own;
  }
}

export async function removeAttemptDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Writes `body` (`sizeBytes` long) to a file in a new attempt directory of `scratch`. Refuses before the first
 * byte when the file system lacks room (TRANSCODE_FAILED, retryable: another worker may have it), and a
 * body that ends short is an error too. On any failure the directory is removed.
 */
export async function downloadToScratch(scratch: Scratch, body: Readable, sizeBytes: number): Promise<LocalFile> {
  const dir = await scratch.attemptDir('source-');
  const file = path.join(dir, 'source');
  try {
    await assertRoom(dir, sizeBytes);
    await pipeline(body, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    const written = (await stat(file)).size;
    if (written !== sizeBytes) {
      throw new FramelogError(ErrorCode.TRANSCODE_FAILED, `The download of the source ended after ${written} of ${sizeBytes} bytes.`, { retryable: true });
    }
    return { path: file, sizeBytes, release: () => removeAttemptDir(dir) };
  } catch (error) {
    body.destroy();
    await removeAttemptDir(dir);
    throw error;
  }
}

async function assertRoom(dir: string, bytes: number): Promise<void> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  if (free < bytes) {
    throw new FramelogError(ErrorCode.TRANSCODE_FAILED, `The scratch directory ${dir} has ${free} bytes free, not the ${bytes} the source needs; free space in SCRATCH_DIR.`, {
      retryable: true,
      details: { freeBytes: free, neededBytes: bytes },
    });
  }
}
