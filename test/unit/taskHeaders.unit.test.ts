import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { taskHeadersProblem } from '../../services/messaging/taskMessage.js';

// What framelog publishes (publisher.ts): a uuid message id, the correlation id as property and header.
const id = randomUUID();
const correlationId = randomUUID();
const valid = {
  messageId: id,
  correlationId,
  headers: { correlationId, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'x-delivery-count': 2, 'framelog-interrupted-attempt': 1, rascal: { any: 'thing' } },
};

describe('taskHeadersProblem', () => {
  it('accepts what framelog publishes, and the headers the broker and Rascal add', () => {
    expect(taskHeadersProblem(valid)).toBeNull();
    expect(taskHeadersProblem({ messageId: id })).toBeNull();
  });

  it.each([
    ['a message id that is no uuid', { ...valid, messageId: 'order-42' }, /^INVALID_MESSAGE: messageId must be a UUID/],
    ['no message id', { ...valid, messageId: undefined }, /^INVALID_MESSAGE: messageId /],
    ['a correlation id that is no uuid (d02)', { ...valid, correlationId: 'not-a-uuid', headers: { correlationId: 'not-a-uuid' } }, /^INVALID_MESSAGE: correlationId .*; headers\.correlationId /],
    ['a correlation id header that differs from the property', { ...valid, headers: { correlationId: randomUUID() } }, /^INVALID_MESSAGE: headers\.correlationId differs from the correlationId property$/],
    ['a traceparent that is no W3C trace context', { ...valid, headers: { traceparent: 'abc' } }, /^INVALID_MESSAGE: headers\.traceparent must be a W3C traceparent$/],
    ['an interrupted attempt that is no positive integer', { ...valid, headers: { 'framelog-interrupted-attempt': 'one' } }, /^INVALID_MESSAGE: headers\.framelog-interrupted-attempt /],
    ['a delivery count that is no count', { ...valid, headers: { 'x-delivery-count': -1 } }, /^INVALID_MESSAGE: headers\.x-delivery-count /],
  ])('refuses %s, naming it', (_case, properties, reason) => {
    expect(taskHeadersProblem(properties)).toMatch(reason);
  });
});
