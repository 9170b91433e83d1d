import { access, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { loadConfig } from '../../../services/config.js';
import { ErrorCode, FramelogError } from '../../../services/domain/errors.js';
import type { MediaProcessor } from '../../../services/media/processVideo.js';
import { LocalDiskStorage } from '../../../services/media/storage.js';
import { createNoopProcessor } from '../../../services/worker/noopProcessor.js';
import { createProcessor, createSplitProcessor, startWorker } from '../../../services/main/startWorker.js';
import type { SplitMediaProcessor } from '../../../services/media/splitProcessor.js';
import { FaultMarker, SPLIT_FAULT_ENV, SplitFault, gatePath } from './faults.js';

/**
 * TEST-ONLY worker: the production composition (startWorker) with a processor that misbehaves on
 * uploads whose bytes start with a fault marker (faults.ts), and processes every other upload with the
 * processor PROCESSOR names. Production code has no test hooks; faults are composed here instead.
 */
const config = loadConfig();
// Faults run on local disk (markerOf reads MEDIA_ROOT directly).
const base = createProcessor(config, new LocalDiskStorage(config.MEDIA_ROOT));
const noop = createNoopProcessor();

async function markerOf(sourceKey: string): Promise<string> {
  const file = await open(path.join(config.MEDIA_ROOT, sourceKey), 'r');
  try {
    const buffer = Buffer.alloc(32);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString('latin1');
  } finally {
    await file.close();
  }
}

/** Rejects with an AbortError once the worker's shutdown aborts the job, as the ffmpeg runner does. */
function abortedBy(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_resolve, reject) => {
    const abort = () => reject(Object.assign(new Error('aborted by shutdown'), { name: 'AbortError' }));
    if (signal?.aborted) abort();
    signal?.addEventListener('abort', abort, { once: true });
  });
}

/** Resolves once `file` exists; stops looking when `signal` aborts. */
async function fileAppears(file: string, signal: AbortSignal | undefined): Promise<void> {
  while (!signal?.aborted && !(await access(file).then(() => true, () => false))) await delay(10);
}

const faulty: MediaProcessor = {
  async process(input) {
    const marker = await markerOf(input.sourceKey);
    if (marker.startsWith(FaultMarker.throw)) {
      throw new FramelogError(ErrorCode.TRANSCODE_FAILED, 'injected failure: processing always throws', { retryable: true });
    }
    if (marker.startsWith(FaultMarker.kill)) {
      process.kill(process.pid, 'SIGKILL');
      await new Promise(() => undefined);
    }
    if (marker.startsWith(FaultMarker.hangOnce)) {
      const flag = path.join(config.MEDIA_ROOT, `hung-${input.videoId}`);
      try {
        await writeFile(flag, '', { flag: 'wx' });
      } catch {
        return noop.process(input);
      }
      await abortedBy(input.signal);
    }
    if (marker.startsWith(FaultMarker.gate)) {
      // The test opens the gate while this worker is already shutting down, within its grace. Like
      // ffmpeg, the job gives up at once when the shutdown aborts it.
      await Promise.race([fileAppears(gatePath(config.MEDIA_ROOT, input.videoId), input.signal), abortedBy(input.signal)]);
      return noop.process(input);
    }
    return base.process(input);
  },
  removeTemps: (videoId) => base.removeTemps(videoId),
};

// Split faults hit range 1 of every split video (the uploads stay real videos: a marker would spoil them);
// SPLIT_FAULT (faults.ts) picks the fault for this worker process.
const splitBase = createSplitProcessor(config, new LocalDiskStorage(config.MEDIA_ROOT));
const splitFault = process.env[SPLIT_FAULT_ENV];
const faultySplit: SplitMediaProcessor = {
  ...splitBase,
  async encodeRange(input) {
    if (input.range.index === 1 && splitFault === SplitFault.alwaysFail) {
      throw new FramelogError(ErrorCode.TRANSCODE_FAILED, 'injected failure: range 1 always fails', { retryable: true });
    }
    if (input.range.index === 1 && splitFault === SplitFault.killOnce) {
      // The first worker to take range 1 of a video dies mid-segment; the redelivery finds the flag.
      const taken = await writeFile(path.join(config.MEDIA_ROOT, `killed-${input.videoId}`), '', { flag: 'wx' }).then(() => true, () => false);
      if (taken) {
        input.onProgress?.(1);
        process.kill(process.pid, 'SIGKILL');
        await new Promise(() => undefined);
      }
    }
    return splitBase.encodeRange(input);
  },
};

const worker = await startWorker(config, { processor: faulty, splitProcessor: faultySplit });
process.on('SIGTERM', () => void worker.stop().then(() => process.exit(0)));
process.on('SIGINT', () => void worker.stop().then(() => process.exit(0)));
