import type http from 'node:http';
import { PassThrough } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { releaseStored } from '../../services/media/storage/releasableChunks.js';
import { requestBody } from '../../services/api/uploads/webExchange.js';

/** A stand-in for a node request: the stream parts of IncomingMessage that requestBody uses. */
const fakeRequest = () => new PassThrough();
const asRequest = (source: PassThrough) => source as unknown as http.IncomingMessage;
const bytes = (text: string) => Buffer.from(text);

describe('requestBody', () => {
  it('does not read the request before the stream is read', async () => {
    const source = fakeRequest();
    requestBody(asRequest(source));
    source.write(bytes('a'));
    await tick();
    expect(source.listenerCount('data')).toBe(0);
  });

  it('hands each read what arrived since the last one: the chunk itself while the reader keeps up, else one chunk of all', async () => {
    const source = fakeRequest();
    const reader = requestBody(asRequest(source)).stream.getReader();
    const first = reader.read();
    source.write(bytes('one'));
    expect(Buffer.from((await first).value!).toString()).toBe('one');
    source.write(bytes('two'));
    source.write(bytes('three'));
    await tick();
    expect(Buffer.from((await reader.read()).value!).toString()).toBe('twothree');
    source.end();
    expect((await reader.read()).done).toBe(true);
  });

  it('hands every chunk over for the store to free: parts it joined are freed at once, the chunks it gives once stored', async () => {
    const source = fakeRequest();
    const reader = requestBody(asRequest(source)).stream.getReader();
    // Request chunks have ArrayBuffers of their own (a socket's), unlike bytes() from the pool; joined ones
    // get their own when larger than a pool slice (Buffer.poolSize / 2).
    const size = Buffer.poolSize;
    const own = (text: string) => Buffer.allocUnsafeSlow(size).fill(text);
    const first = reader.read();
    const alone = own('a');
    source.write(alone);
    const given = (await first).value!;
    expect(given).toBe(alone);
    const parts = [own('b'), own('c')];
    for (const part of parts) source.write(part);
    await tick();
    const joined = (await reader.read()).value!;
    expect(Buffer.from(joined).toString()).toBe('b'.repeat(size) + 'c'.repeat(size));
    expect(parts.map((part) => part.length)).toEqual([0, 0]);
    releaseStored(given);
    releaseStored(joined);
    expect([given.length, joined.length]).toEqual([0, 0]);
  });

  it('ends with the bytes that arrived when the request fails (a client gone mid-body)', async () => {
    const source = fakeRequest();
    const reader = requestBody(asRequest(source)).stream.getReader();
    const first = reader.read();
    source.write(bytes('kept'));
    await first;
    source.write(bytes(' too'));
    await tick();
    source.destroy(new Error('aborted'));
    expect(Buffer.from((await reader.read()).value!).toString()).toBe(' too');
    expect((await reader.read()).done).toBe(true);
  });

  it('release lets the rest of an unread body flow away', async () => {
    const source = fakeRequest();
    const body = requestBody(asRequest(source));
    const first = body.stream.getReader().read();
    source.write(bytes('read'));
    await first;
    body.release();
    expect(source.listenerCount('data')).toBe(0);
    expect(source.readableFlowing).toBe(true);
  });
});
