import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUpload } from '../../services/api/commands/createUpload.js';
import { endUpload } from '../../services/api/commands/endUpload.js';
import { finishUpload } from '../../services/api/commands/finishUpload.js';
import { PgAdvisoryLocker } from '../../services/api/uploads/pgLocker.js';
import { handOver } from '../../services/media/storage/releasableChunks.js';
import { resumableStoreOf, type ResumableStore, type UploadDataStore } from '../../services/api/uploads/resumableStore.js';
import { dataStoreFor } from '../../services/api/uploads/tusServer.js';
import { sweepUploads } from '../../services/api/uploads/uploadSweep.js';
import { FramelogError } from '../../services/domain/errors.js';
import { auditLog } from '../../services/eventstore/audit.js';
import { createPool } from '../../services/eventstore/db.js';
import { rebuildProjections } from '../../services/eventstore/rebuild.js';
import { createLogger } from '../../services/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { openTestStore, type TestStore } from '../helpers/stores.js';

// The commands behind tus, against a real database and each tus data store (the file store with
// STORAGE=local, @tus/s3-store on the local Swift with s3): completion is recorded once however often
// and however concurrently it runs, expiry and completion exclude each other and remove every byte, and
// the advisory-lock Locker serialises one upload across pools (as across API processes).

let t: TestDatabase;
const log = createLogger('test', 'silent');
const by = { actor: 'alice', correlationId: randomUUID() };
const HOUR = 3_600_000;

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

async function typesOf(videoId: string): Promise<string[]> {
  const rows = await t.db.selectFrom('events').select('type').where('stream_id', '=', videoId).orderBy('version').execute();
  return rows.map((row) => row.type);
}
const outboxRows = async (videoId: string) => (await t.db.selectFrom('outbox').select('id').where('stream_id', '=', videoId).execute()).length;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(FramelogError);
  return (error as FramelogError).code;
}

describe.each(['local', 's3'] as const)('on %s storage', (backend) => {
  let store: TestStore;
  let scratch: string;
  let datastore: UploadDataStore;
  let resumable: ResumableStore;

  beforeAll(async () => {
    store = await openTestStore(backend);
    scratch = await mkdtemp(path.join(tmpdir(), 'framelog-tus-'));
    const env = store.env;
    datastore = dataStoreFor(
      backend === 'local'
        ? { kind: 'local', root: env.MEDIA_ROOT! }
        : {
            kind: 's3',
            endpoint: env.S3_ENDPOINT!,
            region: env.S3_REGION!,
            bucket: env.S3_BUCKET!,
            credentials: { accessKeyId: env.S3_ACCESS_KEY_ID!, secretAccessKey: env.S3_SECRET_ACCESS_KEY! },
            forcePathStyle: true,
            prefix: '',
            scratchDir: scratch,
          },
    );
    resumable = resumableStoreOf(datastore);
  });
  afterAll(async () => {
    await store?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  const deps = () => ({ db: t.db, resumable, log });

  /** An open upload with `received` of its `bytes` already stored. */
  async function uploadWith(bytes: Buffer, received = bytes.length) {
    const { video } = await createUpload({ ...deps(), maxUploadBytes: 1 << 30, uploadExpiryMs: HOUR }, { filename: 'a.mp4', sizeBytes: bytes.length, title: null, ...by });
    if (received > 0) await datastore.write(Readable.from([bytes.subarray(0, received)]), video.id, 0);
    return video.id;
  }

  /** Everything stored for an upload: its bytes, the offset record and (s3) a short last part, or an unfinished multipart upload. */
  async function storedFor(videoId: string): Promise<string[]> {
    return [...(await store.keys(`resumable/${videoId}`)), ...(await store.leftovers()).filter((key) => key.includes(videoId))];
  }

  describe('write', () => {
    it('frees each handed-over request chunk once its bytes are stored, and leaves a caller’s own buffers whole', async () => {
      const bytes = randomBytes(6 * 1024 * 1024 + 17);
      const { video } = await createUpload({ ...deps(), maxUploadBytes: 1 << 30, uploadExpiryMs: HOUR }, { filename: 'a.mp4', sizeBytes: bytes.length, title: null, ...by });
      // Chunks of ~1 MiB with ArrayBuffers of their own, as requestBody hands them on; every other one handed over.
      const chunks = Array.from({ length: 7 }, (_, i) => {
        const chunk = Buffer.allocUnsafeSlow(Math.min(1024 * 1024, bytes.length - i * 1024 * 1024));
        bytes.copy(chunk, 0, i * 1024 * 1024);
        return i % 2 === 0 ? handOver(chunk) : chunk;
      });
      const lengths = chunks.map((chunk) => chunk.length);
      expect(await datastore.write(Readable.from(chunks), video.id, 0)).toBe(bytes.length);
      expect(chunks.map((chunk) => chunk.length)).toEqual(lengths.map((length, i) => (i % 2 === 0 ? 0 : length)));
      expect(Buffer.concat(chunks.filter((_, i) => i % 2 === 1)).equals(Buffer.concat([1, 3, 5].map((i) => bytes.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024))))).toBe(true);
      expect((await store.bytes(`resumable/${video.id}`)).equals(bytes)).toBe(true);
    });
  });

  describe('finishUpload', () => {
    it('two completions racing record one VideoUploaded with the bytes’ sha256 and enqueue one task; both return the completed video', async () => {
      const bytes = randomBytes(3 * 1024 * 1024);
      const videoId = await uploadWith(bytes);
      const results = await Promise.all([finishUpload(deps(), videoId, by), finishUpload(deps(), videoId, by), finishUpload(deps(), videoId, by)]);
      expect(results.map((video) => video.status)).toEqual(['QUEUED', 'QUEUED', 'QUEUED']);
      expect(await typesOf(videoId)).toEqual(['UploadStarted', 'VideoUploaded']);
      expect(await outboxRows(videoId)).toBe(1);
      expect(results[0]?.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      // The bytes are at the storage key VideoUploaded names, beside the offset record; nothing unfinished.
      expect((await store.bytes(`resumable/${videoId}`)).equals(bytes)).toBe(true);
      expect(await storedFor(videoId)).toEqual([`resumable/${videoId}`, `resumable/${videoId}${backend === 'local' ? '.json' : '.info'}`]);
      // And once more later (a repeated hook): nothing new.
      await finishUpload(deps(), videoId, by);
      expect(await typesOf(videoId)).toHaveLength(2);
    });

    it('refuses an upload whose bytes are not all there (UPLOAD_CONFLICT) and changes nothing', async () => {
      const videoId = await uploadWith(randomBytes(1000), 400);
      expect(await codeOf(finishUpload(deps(), videoId, by))).toBe('UPLOAD_CONFLICT');
      expect(await typesOf(videoId)).toEqual(['UploadStarted']);
    });
  });

  describe('sweepUploads', () => {
    it('expires an unfinished upload past its time (UploadExpired, bytes removed) and leaves one in time alone', async () => {
      const late = await uploadWith(randomBytes(1000), 400);
      const untouched = await uploadWith(randomBytes(1000), 0);
      // s3: a multipart upload and .info for both, and the 400 bytes short of a part as .part.
      expect(await storedFor(late)).not.toEqual([]);
      expect(await storedFor(untouched)).not.toEqual([]);
      const report = await sweepUploads(deps(), new Date(Date.now() + 2 * HOUR));
      expect(report.expired).toBeGreaterThanOrEqual(2);
      expect(await typesOf(late)).toEqual(['UploadStarted', 'UploadExpired']);
      expect(await typesOf(untouched)).toEqual(['UploadStarted', 'UploadExpired']);
      expect(await storedFor(late)).toEqual([]);
      expect(await storedFor(untouched)).toEqual([]);
      expect(await resumable.offset(late)).toBeNull();
      // After expiry a completion is refused with UPLOAD_EXPIRED and enqueues nothing.
      expect(await codeOf(finishUpload(deps(), late, by))).toBe('UPLOAD_EXPIRED');
      expect(await outboxRows(late)).toBe(0);

      const fresh = await uploadWith(randomBytes(1000), 400);
      await sweepUploads(deps(), new Date());
      expect(await typesOf(fresh)).toEqual(['UploadStarted']);
    });

    it('completes an upload whose bytes all arrived but whose completion was never recorded', async () => {
      const videoId = await uploadWith(randomBytes(2000));
      const report = await sweepUploads(deps());
      expect(report.finished).toBe(1);
      expect(await typesOf(videoId)).toEqual(['UploadStarted', 'VideoUploaded']);
    });

    it('expiry racing a completion: exactly one of them is recorded', async () => {
      const videoId = await uploadWith(randomBytes(2000));
      const outcomes = await Promise.allSettled([endUpload({ ...deps(), now: () => new Date(Date.now() + 2 * HOUR) }, videoId, { kind: 'expired' }, by), finishUpload(deps(), videoId, by)]);
      const types = await typesOf(videoId);
      expect(types).toHaveLength(2);
      expect(['UploadExpired', 'VideoUploaded']).toContain(types[1]);
      expect(outcomes.filter((o) => o.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
      expect(await outboxRows(videoId)).toBe(types[1] === 'VideoUploaded' ? 1 : 0);
    });
  });

  describe('projections', () => {
    it('the audit and a rebuild agree with the live rows of uploads opened, completed, expired and cancelled', async () => {
      await uploadWith(randomBytes(100), 10);
      const cancelled = await uploadWith(randomBytes(100), 10);
      await endUpload(deps(), cancelled, { kind: 'cancelled' }, by);
      const audit = await auditLog(t.db, {});
      expect(audit.mismatches).toEqual([]);
      expect(audit.ok).toBe(true);
      expect((await rebuildProjections(t.db)).differences).toBe(0);
    });
  });
});

describe('PgAdvisoryLocker', () => {
  it('serialises one upload across two pools, and a waiter gives up with a typed 409 after its timeout', async () => {
    const pools = [createPool(t.url, { max: 2, applicationName: 'lock-a' }), createPool(t.url, { max: 2, applicationName: 'lock-b' })];
    try {
      const [a, b] = pools.map((pool) => new PgAdvisoryLocker(pool, { acquireTimeoutMs: 300, pollMs: 20 }));
      const id = randomUUID();
      const held = a!.newLock(id);
      await held.lock(new AbortController().signal, () => undefined);
      const refused = await b!.newLock(id).lock(new AbortController().signal, () => undefined).then(() => null, (e: unknown) => e);
      expect(refused).toMatchObject({ status_code: 409 });
      // Another upload is not blocked.
      const other = b!.newLock(randomUUID());
      await other.lock(new AbortController().signal, () => undefined);
      await other.unlock();

      const waiting = b!.newLock(id);
      const acquired = waiting.lock(new AbortController().signal, () => undefined);
      await held.unlock();
      await acquired;
      await waiting.unlock();
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });
});
