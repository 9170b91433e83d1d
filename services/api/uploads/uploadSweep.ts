import { randomUUID } from 'node:crypto';
import type { Db } from '../../eventstore/db.js';
import { listPendingUploads } from '../../eventstore/uploads.js';
import type { Logger } from '../../logger.js';
import { endUpload } from '../commands/endUpload.js';
import { finishUpload } from '../commands/finishUpload.js';
import type { ResumableStore } from './resumableStore.js';

export interface UploadSweepDeps {
  db: Db;
  resumable: ResumableStore;
  log: Logger;
}

export interface SweepReport {
  finished: number;
  expired: number;
}

/** Uploads looked at per sweep; the rest wait for the next one. */
const SWEEP_BATCH = 500;
const SYSTEM_ACTOR = 'system';

/**
 * One pass over the uploads still UPLOADING: one whose bytes are all there is completed (its tus hook
 * failed, e.g. PostgreSQL was down at that moment, or the process died right after the last byte), one
 * past its expiry is ended with UploadExpired and its bytes removed. Each decision is an append at the
 * version read, so an API process racing the same upload (or a PATCH finishing it) cannot double it.
 */
export async function sweepUploads(deps: UploadSweepDeps, now: Date = new Date()): Promise<SweepReport> {
  const report: SweepReport = { finished: 0, expired: 0 };
  for (const upload of await listPendingUploads(deps.db, SWEEP_BATCH)) {
    const by = { actor: SYSTEM_ACTOR, correlationId: randomUUID() };
    try {
      if ((await deps.resumable.offset(upload.videoId)) === upload.sizeBytes) {
        await finishUpload(deps, upload.videoId, by);
        report.finished += 1;
      } else if (upload.expiresAt <= now) {
        const { ended } = await endUpload({ ...deps, now: () => now }, upload.videoId, { kind: 'expired' }, by);
        if (ended) report.expired += 1;
      }
    } catch (error) {
      deps.log.warn({ err: error, videoId: upload.videoId }, 'could not settle an upload; the next sweep tries again');
    }
  }
  return report;
}

/** Runs sweepUploads every `intervalMs` (and once at start); `stop` waits for a pass in flight. */
export function startUploadSweeper(deps: UploadSweepDeps, intervalMs: number): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  const pass = () => {
    running = sweepUploads(deps).then(
      (report) => {
        if (report.finished + report.expired > 0) deps.log.info(report, 'uploads settled');
      },
      (error: unknown) => deps.log.warn({ err: error }, 'upload sweep failed; trying again later'),
    );
  };
  pass();
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
