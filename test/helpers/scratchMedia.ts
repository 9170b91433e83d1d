import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createMediaProcessor, type MediaProcessor } from '../../services/media/processVideo.js';
import { LocalDiskStorage } from '../../services/media/storage.js';

/** The media limits the media tests run with. */
export const TEST_LIMITS = { maxDurationSeconds: 60, maxDimension: 4096, maxStreams: 8 };

export interface ScratchMedia {
  /** The scratch directory; clips go in `clips/` under it. */
  dir: string;
  storage: LocalDiskStorage;
  processor: MediaProcessor;
}

/**
 * A media processor on local storage in a scratch directory, for one test file: made in beforeAll (with
 * `clips/` for test media) and removed in afterAll. Read its fields inside tests and hooks only.
 */
export function useScratchMedia(prefix: string): ScratchMedia {
  const scratch = {} as ScratchMedia;
  beforeAll(async () => {
    scratch.dir = await mkdtemp(path.join(tmpdir(), prefix));
    await mkdir(path.join(scratch.dir, 'clips'));
    scratch.storage = new LocalDiskStorage(path.join(scratch.dir, 'media'));
    scratch.processor = createMediaProcessor({ storage: scratch.storage, limits: TEST_LIMITS, threads: 0 });
  });
  afterAll(async () => {
    if (scratch.dir !== undefined) await rm(scratch.dir, { recursive: true, force: true });
  });
  return scratch;
}
