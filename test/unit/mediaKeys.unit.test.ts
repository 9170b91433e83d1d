import { describe, expect, it } from 'vitest';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import {
  assertValidKey,
  isPublicOutputKey,
  isValidKey,
  isVersionedOutputKey,
  manifestKey,
  outputSetKey,
  POSTER_NAME,
  renditionName,
  renditionsPrefix,
  sourceKey,
} from '../../services/media/keys.js';
import { newOutputVersion } from '../../services/media/storage/localOutputSet.js';

const id = '0b7e7c52-5d0e-4c59-9a43-3c1f3c0c2f8e';

describe('storage keys', () => {
  it('builds the documented layout from the video id alone', () => {
    expect(sourceKey(id)).toBe(`uploads/${id}/source`);
    expect(renditionName('720p')).toBe('720p.mp4');
    expect(POSTER_NAME).toBe('poster.jpg');
    expect(renditionsPrefix(id)).toBe(`renditions/${id}`);
    expect(outputSetKey(id)).toBe(`renditions/${id}`);
    expect(manifestKey(outputSetKey(id))).toBe(`renditions/${id}/manifest.json`);
  });

  it('tells versioned output keys (immutable) and public keys apart', () => {
    const version = newOutputVersion();
    expect(isVersionedOutputKey(`renditions/${id}/${version}/720p.mp4`)).toBe(true);
    expect(isVersionedOutputKey(`renditions/${id}/${version}/hls/720p/seg-1.m4s`)).toBe(true);
    for (const key of [`renditions/${id}/720p.mp4`, `renditions/${id}/${version}`, `uploads/${id}/${version}/x`, `renditions/${id}/v1/720p.mp4`]) {
      expect(isVersionedOutputKey(key), key).toBe(false);
    }
    expect(isPublicOutputKey(`renditions/${id}/${version}/720p.mp4`)).toBe(true);
    expect(isPublicOutputKey(`renditions/${id}/720p.mp4`)).toBe(true); // written before output sets
    for (const key of [`renditions/${id}/manifest.json`, `uploads/${id}/source`, `renditions/${id}`, 'renditions/../uploads/x/source']) {
      expect(isPublicOutputKey(key), key).toBe(false);
    }
  });

  it('gives every output set version a new id, valid as one key segment', () => {
    const versions = new Set(Array.from({ length: 100 }, () => newOutputVersion()));
    expect(versions.size).toBe(100);
    for (const version of versions) expect(isValidKey(version) && !version.includes('/')).toBe(true);
  });

  it.each(['../etc/passwd', 'a/../../b', '/etc/passwd', 'a//b', 'a/', '', '.', 'a/./b', 'a/.hidden', 'a b', 'a\\b', 'a/b?c', 'ü', 'a\0b', 'x'.repeat(513)])(
    'refuses %j',
    (key) => {
      expect(isValidKey(key)).toBe(false);
      expect(() => assertValidKey(key)).toThrow(FramelogError);
    },
  );

  it.each(['uploads/abc/source', 'renditions/a-b_c/720p.mp4', 'a', 'a.b/c-d_e.f'])('accepts %j', (key) => {
    expect(assertValidKey(key)).toBe(key);
  });

  it('refuses ids and labels that could change the path', () => {
    for (const bad of ['..', 'a/b', '', 'a.b']) {
      let caught: unknown;
      try {
        sourceKey(bad);
      } catch (error) {
        caught = error;
      }
      expect(caught, bad).toMatchObject({ code: ErrorCode.BAD_USER_INPUT });
    }
    expect(() => renditionName('../720p')).toThrow(FramelogError);
    expect(() => renditionName('poster')).toThrow(FramelogError);
  });
});
