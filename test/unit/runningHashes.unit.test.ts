import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { RunningHashes, type HashTap } from '../../services/api/uploads/runningHashes.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Sends `bytes` through the tap as a store would, and reports them stored up to `stored` (default: all of them). */
async function send(tap: HashTap, offset: number, bytes: Buffer, stored = offset + bytes.length): Promise<void> {
  await pipeline(Readable.from([bytes]), tap.through, new Writable({ write: (_chunk, _encoding, done) => done() }));
  tap.stored(stored);
}

describe('RunningHashes', () => {
  const file = randomBytes(3000);

  it('hashes an upload whose PATCHes arrive in order, once', async () => {
    const hashes = new RunningHashes();
    await send(hashes.tap('a', 0), 0, file.subarray(0, 1000));
    await send(hashes.tap('a', 1000), 1000, file.subarray(1000));
    expect(hashes.take('a', 2999)).toBeNull();
    expect(hashes.take('a', 3000)).toEqual({ sha256: sha256(file), sizeBytes: 3000 });
    expect(hashes.take('a', 3000)).toBeNull();
  });

  it('drops the hash when a PATCH starts elsewhere than where the hash reached (a resume after a restart)', async () => {
    const hashes = new RunningHashes();
    await send(hashes.tap('a', 0), 0, file.subarray(0, 1000));
    await send(hashes.tap('a', 1500), 1500, file.subarray(1500));
    expect(hashes.take('a', 3000)).toBeNull();
  });

  it('drops the hash when the store took other bytes than those hashed, or failed, or the upload is removed', async () => {
    const hashes = new RunningHashes();
    await send(hashes.tap('a', 0), 0, file, 2000);
    expect(hashes.take('a', 2000)).toBeNull();
    expect(hashes.take('a', 3000)).toBeNull();

    await send(hashes.tap('b', 0), 0, file.subarray(0, 1000));
    const failed = hashes.tap('b', 1000);
    failed.failed();
    expect(hashes.take('b', 1000)).toBeNull();

    await send(hashes.tap('c', 0), 0, file);
    hashes.forget('c');
    expect(hashes.take('c', 3000)).toBeNull();
  });
});
