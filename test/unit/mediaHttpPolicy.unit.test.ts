import { describe, expect, it } from 'vitest';
import { cacheControlOf, contentTypeOf, decideRange } from '../../services/media/storage/httpPolicy.js';
import { newOutputVersion } from '../../services/media/storage/localOutputSet.js';

const set = `renditions/0b7e7c52-5d0e-4c59-9a43-3c1f3c0c2f8e`;
const version = newOutputVersion();

describe('decideRange', () => {
  it.each([
    ['bytes=0-99', { kind: 'partial', range: { start: 0, end: 99 } }],
    ['bytes=100-', { kind: 'partial', range: { start: 100, end: 999 } }],
    ['bytes=-10', { kind: 'partial', range: { start: 990, end: 999 } }],
    ['bytes=-5000', { kind: 'partial', range: { start: 0, end: 999 } }],
    ['bytes=900-5000', { kind: 'partial', range: { start: 900, end: 999 } }],
    ['bytes=999-999', { kind: 'partial', range: { start: 999, end: 999 } }],
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=1000-2000', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=0-1,4-5', { kind: 'full' }],
    ['bytes=5-1', { kind: 'full' }],
    ['bytes=-', { kind: 'full' }],
    ['pages=0-1', { kind: 'full' }],
    ['bytes=a-b', { kind: 'full' }],
  ] as const)('%s of 1000 bytes', (header, decision) => {
    expect(decideRange(header, 1000)).toEqual(decision);
  });

  it('serves the whole object without a Range, and no range of an empty one', () => {
    expect(decideRange(undefined, 1000)).toEqual({ kind: 'full' });
    expect(decideRange('bytes=0-0', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=-1', 0)).toEqual({ kind: 'unsatisfiable' });
  });
});

describe('content types and caching', () => {
  it.each([
    ['master.m3u8', 'application/vnd.apple.mpegurl'],
    ['h/720p.M3U8', 'application/vnd.apple.mpegurl'],
    ['stream.mpd', 'application/dash+xml'],
    ['hls/720p/init.mp4', 'video/mp4'],
    ['hls/720p/seg-1.m4s', 'video/iso.segment'],
    ['poster.jpg', 'image/jpeg'],
    ['no-extension', 'application/octet-stream'],
    ['dir.d/file', 'application/octet-stream'],
  ])('%s is %s', (name, type) => {
    expect(contentTypeOf(`${set}/${version}/${name}`)).toBe(type);
  });

  it('makes versioned set files immutable, playlists short-lived, and unversioned keys revalidated', () => {
    expect(cacheControlOf(`${set}/${version}/hls/720p/seg-1.m4s`)).toBe('public, max-age=31536000, immutable');
    expect(cacheControlOf(`${set}/${version}/720p.mp4`)).toBe('public, max-age=31536000, immutable');
    expect(cacheControlOf(`${set}/${version}/master.m3u8`)).toBe('public, max-age=60');
    expect(cacheControlOf(`${set}/${version}/stream.mpd`)).toBe('public, max-age=60');
    expect(cacheControlOf(`${set}/720p.mp4`)).toBe('public, max-age=0, must-revalidate');
  });
});
