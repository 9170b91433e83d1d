import { describe, expect, it } from 'vitest';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import { assertValidKey, isValidKey, posterKey, renditionKey, renditionsPrefix, sourceKey } from '../../services/media/keys.js';

const id = '0b7e7c52-5d0e-4c59-9a43-3c1f3c0c2f8e';

describe('storage keys', () => {
  it('builds the documented layout from the video id alone', () => {
    expect(sourceKey(id)).toBe(`uploads/${id}/source`);
    expect(renditionKey(id, '720p')).toBe(`renditions/${id}/720p.mp4`);
    expect(posterKey(id)).toBe(`renditions/${id}/poster.jpg`);
    expect(renditionsPrefix(id)).toBe(`renditions/${id}`);
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
    expect(() => renditionKey(id, '../720p')).toThrow(FramelogError);
    expect(() => renditionKey(id, 'poster')).toThrow(FramelogError);
  });
});
