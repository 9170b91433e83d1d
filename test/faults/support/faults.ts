import path from 'node:path';

/**
 * Markers the test-only worker (faultyWorkerMain.ts) looks for at the start of an upload's bytes.
 *   throw      every attempt throws a retryable error
 *   kill       every attempt SIGKILLs the worker process (a crash loop)
 *   hangOnce   the first attempt hangs until the worker's shutdown aborts it; later ones succeed
 *   gate       the job waits until the file gatePath(mediaRoot, videoId) exists, then succeeds
 */
export const FaultMarker = { throw: 'FAULT:throw', kill: 'FAULT:kill', hangOnce: 'FAULT:hang-once', gate: 'FAULT:gate' } as const;

/** The file that lets a `gate` job finish. */
export const gatePath = (mediaRoot: string, videoId: string): string => path.join(mediaRoot, `gate-${videoId}`);

/** Entry point of the test-only worker, relative to the project root. */
export const FAULTY_WORKER_ENTRY = 'test/faults/support/faultyWorkerMain.ts';

/** Environment variable of the test-only worker choosing a split-and-stitch fault (SplitFault) for range 1 of every split video. */
export const SPLIT_FAULT_ENV = 'FRAMELOG_TEST_SPLIT_FAULT';
/**
 *   killOnce     the first worker to encode range 1 of a video SIGKILLs itself mid-segment
 *   alwaysFail   every attempt at range 1 throws a retryable error
 */
export const SplitFault = { killOnce: 'kill-once', alwaysFail: 'always-fail' } as const;
