import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpErrorHandler, notFoundHandler } from '../../services/api/errors.js';
import { mediaRoute } from '../../services/api/media.js';
import { createLogger } from '../../services/logger.js';
import { outputSetKey, sourceKey } from '../../services/media/keys.js';
import { LocalDiskStorage, type OutputManifest } from '../../services/media/storage.js';
import { newOutputVersion } from '../../services/media/storage/localOutputSet.js';

/**
 * The /media route over the local backend, on a real HTTP server: what players and CDNs see (content
 * types, caching, CORS, Range, conditional requests) and what they must not (sources, manifests,
 * uncommitted sets, paths outside the media).
 */

let dir: string;
let storage: LocalDiskStorage;
let server: http.Server;
let base: string;
const videoId = randomUUID();
let manifest: OutputManifest;
const segment = Buffer.from(Array.from({ length: 5000 }, (_, index) => index % 253));

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'framelog-serving-'));
  storage = new LocalDiskStorage(dir);
  const app = express();
  app.use('/media', mediaRoute(storage));
  app.use(notFoundHandler);
  app.use(httpErrorHandler(createLogger('test', 'silent')));
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/media`;

  await storage.writeStream(sourceKey(videoId), Readable.from([Buffer.from('the upload')]), { maxBytes: 100 });
  const set = await storage.openOutputSet(outputSetKey(videoId));
  await set.writeFile('master.m3u8', '#EXTM3U\n');
  await set.writeFile('manifest.mpd', '<MPD/>');
  await set.writeFile('hls/720p/init.mp4', 'init');
  await set.writeFile('hls/720p/seg-00001.m4s', segment);
  await set.writeFile('720p.mp4', 'mp4 bytes');
  await set.writeFile('poster.jpg', 'jpeg bytes');
  manifest = await set.commit();
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const url = (name: string) => `${base}/${manifest.files.find((file) => file.name === name)!.key}`;

describe('/media served from storage', () => {
  it.each([
    ['master.m3u8', 'application/vnd.apple.mpegurl'],
    ['manifest.mpd', 'application/dash+xml'],
    ['hls/720p/init.mp4', 'video/mp4'],
    ['hls/720p/seg-00001.m4s', 'video/iso.segment'],
    ['720p.mp4', 'video/mp4'],
    ['poster.jpg', 'image/jpeg'],
  ])('serves %s as %s, with CORS and nosniff', async (name, type) => {
    const response = await fetch(url(name));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(type);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-expose-headers')).toContain('Content-Range');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('accept-ranges')).toBe('bytes');
  });

  it('caches segments and files of a committed version as immutable, playlists briefly', async () => {
    for (const name of ['hls/720p/seg-00001.m4s', 'hls/720p/init.mp4', '720p.mp4', 'poster.jpg']) {
      expect((await fetch(url(name))).headers.get('cache-control'), name).toBe('public, max-age=31536000, immutable');
    }
    for (const name of ['master.m3u8', 'manifest.mpd']) {
      expect((await fetch(url(name))).headers.get('cache-control'), name).toBe('public, max-age=60');
    }
  });

  it('keeps outputs written before output sets (unversioned keys) revalidated, not immutable', async () => {
    const key = `${outputSetKey(randomUUID())}/720p.mp4`;
    await storage.writeStream(key, Readable.from([Buffer.from('legacy')]), { maxBytes: 100 });
    const response = await fetch(`${base}/${key}`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('legacy');
    expect(response.headers.get('cache-control')).toBe('public, max-age=0, must-revalidate');
  });

  it('answers a Range with 206 and the exact bytes and headers', async () => {
    const response = await fetch(url('hls/720p/seg-00001.m4s'), { headers: { range: 'bytes=100-199' } });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe('bytes 100-199/5000');
    expect(response.headers.get('content-length')).toBe('100');
    expect(response.headers.get('content-type')).toBe('video/iso.segment');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(segment.subarray(100, 200));

    const open = await fetch(url('hls/720p/seg-00001.m4s'), { headers: { range: 'bytes=4990-' } });
    expect([open.status, open.headers.get('content-range')]).toEqual([206, 'bytes 4990-4999/5000']);
    expect(Buffer.from(await open.arrayBuffer())).toEqual(segment.subarray(4990));
    const suffix = await fetch(url('hls/720p/seg-00001.m4s'), { headers: { range: 'bytes=-10' } });
    expect([suffix.status, suffix.headers.get('content-range')]).toEqual([206, 'bytes 4990-4999/5000']);
    const clamped = await fetch(url('hls/720p/seg-00001.m4s'), { headers: { range: 'bytes=4000-999999' } });
    expect([clamped.status, clamped.headers.get('content-range'), clamped.headers.get('content-length')]).toEqual([206, 'bytes 4000-4999/5000', '1000']);
    await clamped.arrayBuffer();
  });

  it('answers a Range past the end with 416, and serves the whole file for ranges it does not support', async () => {
    const past = await fetch(url('hls/720p/seg-00001.m4s'), { headers: { range: 'bytes=5000-5100' } });
    expect([past.status, past.headers.get('content-range')]).toEqual([416, 'bytes */5000']);
    for (const range of ['bytes=0-1,5-9', 'items=0-1', 'bytes=x-y', 'bytes=9-1']) {
      const whole = await fetch(url('hls/720p/seg-00001.m4s'), { headers: { range } });
      expect(whole.status, range).toBe(200);
      expect((await whole.arrayBuffer()).byteLength).toBe(5000);
    }
  });

  it('answers HEAD with the headers and no body, and If-None-Match with 304', async () => {
    const head = await fetch(url('720p.mp4'), { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), head.headers.get('content-type')]).toEqual([200, '9', 'video/mp4']);
    const etag = head.headers.get('etag');
    expect(etag).toMatch(/^"[^"]+"$/);
    const revalidated = await fetch(url('720p.mp4'), { headers: { 'if-none-match': etag! } });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get('etag')).toBe(etag);
    const stale = await fetch(url('720p.mp4'), { headers: { 'if-range': '"another"', range: 'bytes=0-1' } });
    expect(stale.status).toBe(200);
    expect(await stale.text()).toBe('mp4 bytes');
  });

  it('answers a CORS preflight for Range requests', async () => {
    const response = await fetch(url('hls/720p/seg-00001.m4s'), {
      method: 'OPTIONS',
      headers: { origin: 'https://player.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'range' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-headers')).toMatch(/\bRange\b/);
    expect(response.headers.get('access-control-allow-methods')).toContain('GET');
  });

  it('never serves sources, manifests, uncommitted versions or missing files: NOT_FOUND', async () => {
    const uncommitted = await storage.openOutputSet(outputSetKey(randomUUID()));
    await uncommitted.writeFile('720p.mp4', 'not yet');
    const paths = [
      sourceKey(videoId),
      `${outputSetKey(videoId)}/manifest.json`,
      uncommitted.keyOf('720p.mp4'),
      `${outputSetKey(videoId)}/${manifest.version}/480p.mp4`,
      `${outputSetKey(videoId)}/${manifest.version}/hls`,
    ];
    for (const key of paths) {
      const response = await fetch(`${base}/${key}`);
      expect(response.status, key).toBe(404);
      expect(await response.json()).toMatchObject({ errors: [{ extensions: { code: 'NOT_FOUND' } }] });
    }
    await uncommitted.abort();
  });

  it('serves only the version the manifest names: not one uploaded without a commit, not a replaced one', async () => {
    // What a backend without atomic rename (S3) has while a set is being uploaded: objects at a version's
    // keys that no manifest names yet.
    const setKey = outputSetKey(randomUUID());
    const early = `${setKey}/${newOutputVersion()}/720p.mp4`;
    await storage.writeStream(early, Readable.from([Buffer.from('uploading')]), { maxBytes: 100 });
    expect((await fetch(`${base}/${early}`)).status).toBe(404);

    const first = await storage.openOutputSet(setKey);
    await first.writeFile('720p.mp4', 'first');
    await first.commit();
    expect(await (await fetch(`${base}/${first.keyOf('720p.mp4')}`)).text()).toBe('first');
    const second = await storage.openOutputSet(setKey);
    await second.writeFile('720p.mp4', 'second');
    await second.commit();
    expect(await (await fetch(`${base}/${second.keyOf('720p.mp4')}`)).text()).toBe('second');
    expect((await fetch(`${base}/${first.keyOf('720p.mp4')}`)).status).toBe(404);
  });

  it('refuses paths that are not storage keys (traversal, dot segments, bad escapes) with 403 BAD_USER_INPUT', async () => {
    const attempts = [
      'renditions/..%2f..%2fpackage.json',
      `renditions/${videoId}/.staging-x/720p.mp4`,
      'renditions/%2fetc%2fpasswd',
      'renditions/%E0%A4%A',
      'renditions/a%00b',
    ];
    for (const attempt of attempts) {
      const response = await fetch(`${base}/${attempt}`);
      expect(response.status, attempt).toBe(403);
      expect(await response.json()).toMatchObject({ errors: [{ extensions: { code: 'BAD_USER_INPUT' } }] });
    }
    // `../` and `%2e%2e/` are dot segments the URL parser resolves before sending: they land on another
    // path, which must not serve what it names either.
    for (const resolved of [`${base}/renditions/../../package.json`, `${base}/renditions/%2e%2e/${sourceKey(videoId)}`]) {
      expect((await fetch(resolved)).status, resolved).toBe(404);
    }
  });
});
