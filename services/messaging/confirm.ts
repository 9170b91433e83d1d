import type { PublicationSession } from 'rascal';
import { ErrorCode, FramelogError } from '../domain/errors.js';

/**
 * Settles when the broker has taken responsibility for a published (or forwarded) message.
 *
 * - `success` is the broker's confirm (the publications use confirm channels).
 * - `return` means unroutable: the broker sends basic.return before the confirm of a mandatory
 *   message, so it is seen first and wins; a confirm that follows is ignored.
 * - `error` covers a nack, a confirm timeout and a channel that broke during the publish.
 * - `paused` means the connection is down and Rascal would hold the message until it reconnects;
 *   waiting would stall the caller indefinitely, so the publish is aborted and reported instead.
 * All failures are BROKER_UNAVAILABLE and retryable: the caller still owns the message.
 */
export function awaitConfirm(session: PublicationSession, messageId: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (reason: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      reject(
        new FramelogError(ErrorCode.BROKER_UNAVAILABLE, `Message ${messageId} was not accepted by RabbitMQ: ${reason}`, {
          retryable: true,
          cause,
          details: { messageId },
        }),
      );
    };
    session.on('return', () => fail('unroutable (no queue is bound for its routing key)'));
    session.on('error', (error) => fail(error.message, error));
    session.on('close', () => fail('the channel closed before the broker confirmed'));
    session.on('paused', () => {
      session.abort();
      fail('the connection is down');
    });
    // Rascal reports an already-paused vhost by emitting `paused` from its `newListener` hook, which
    // Node runs before adding the listener being registered: the handler above missed it. Registering
    // a second listener replays it to the first. (Should Rascal ever emit it later, `settled` dedupes.)
    session.on('paused', () => undefined);
    session.on('success', () => {
      if (settled) return;
      settled = true;
      resolve();
    });
  });
}
