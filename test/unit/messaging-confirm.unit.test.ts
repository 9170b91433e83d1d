import { EventEmitter } from 'node:events';
import type { PublicationSession } from 'rascal';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../services/domain/errors.js';
import { awaitConfirm } from '../../services/messaging/confirm.js';

/** Stands in for Rascal's publication session: an EventEmitter with abort(). */
class FakeSession extends EventEmitter {
  aborted = false;
  abort(): void {
    this.aborted = true;
  }
  isAborted(): boolean {
    return this.aborted;
  }
}

const session = () => new FakeSession();
const asRascal = (fake: FakeSession) => fake as unknown as PublicationSession;

describe('awaitConfirm', () => {
  it('resolves on the broker confirm', async () => {
    const fake = session();
    const confirmed = awaitConfirm(asRascal(fake), 'm1');
    fake.emit('success', 'm1');
    await expect(confirmed).resolves.toBeUndefined();
  });

  it('rejects a returned (unroutable) message even though its confirm follows', async () => {
    const fake = session();
    const confirmed = awaitConfirm(asRascal(fake), 'm2');
    fake.emit('return', {});
    fake.emit('success', 'm2');
    await expect(confirmed).rejects.toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, retryable: true, details: { messageId: 'm2' } });
  });

  it('rejects a nack or a confirm timeout with the cause', async () => {
    const fake = session();
    const confirmed = awaitConfirm(asRascal(fake), 'm3');
    const nack = new Error('message nacked');
    fake.emit('error', nack, 'm3');
    await expect(confirmed).rejects.toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, cause: nack });
  });

  it('aborts and rejects at once when the connection is down instead of waiting for it', async () => {
    const fake = session();
    const confirmed = awaitConfirm(asRascal(fake), 'm4');
    fake.emit('paused', 'm4');
    await expect(confirmed).rejects.toThrow(/connection is down/);
    expect(fake.aborted).toBe(true);
  });

  it('rejects when the channel closes before the confirm', async () => {
    const fake = session();
    const confirmed = awaitConfirm(asRascal(fake), 'm5');
    fake.emit('close', 'm5');
    await expect(confirmed).rejects.toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE });
  });
});
