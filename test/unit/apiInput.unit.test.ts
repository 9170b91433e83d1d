import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { countCharacters, parsePosition, parseUploadText, truncateCharacters, unstorableText } from '../../services/api/input.js';
import { MAX_LIST_ITEMS, checkRequestInput, isInputRefusal } from '../../services/api/requestBoundary.js';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';

function refusal(fn: () => unknown): FramelogError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FramelogError);
    return error as FramelogError;
  }
  throw new Error('expected a refusal');
}

describe('text PostgreSQL can store', () => {
  it('refuses a NUL and a lone surrogate of either half, and takes whole characters', () => {
    expect(unstorableText('a\u0000b')).toMatch(/NUL/);
    expect(unstorableText('a\uD83C')).toMatch(/half of a character/);
    expect(unstorableText('\uDFAC tail')).toMatch(/half of a character/);
    expect(unstorableText('🎬 é 👩‍👩‍👧‍👦 \u0001 tab\t')).toBeNull();
  });
});

describe('characters as a reader counts them', () => {
  it('counts grapheme clusters, not UTF-16 units or code points', () => {
    expect(countCharacters('🎬'.repeat(251))).toBe(251);
    expect(countCharacters('👩‍👩‍👧‍👦🇫🇷e\u0301')).toBe(3);
    expect(countCharacters('x'.repeat(600), 501)).toBe(501);
  });

  it('truncates at a character boundary, never inside a surrogate pair or a cluster', () => {
    expect(truncateCharacters('ab🎬cd', 3)).toBe('ab🎬');
    expect(truncateCharacters('👩‍👩‍👧‍👦👩‍👩‍👧‍👦', 1)).toBe('👩‍👩‍👧‍👦');
    expect(truncateCharacters('short', 10)).toBe('short');
  });
});

describe('an upload\'s text', () => {
  const text = (title: string | null, filename = 'clip.mp4', mimetype = 'video/mp4') => parseUploadText({ title, filename, mimetype });

  it('takes 500 characters of any kind, trims, and treats a blank title as none', () => {
    expect(text('🎬'.repeat(500)).title).toBe('🎬'.repeat(500));
    expect(text('  hello  ').title).toBe('hello');
    expect(text('   ').title).toBeNull();
    expect(text(null).title).toBeNull();
  });

  it('refuses 501 characters, more than 5 000 code points, and unstorable title, filename or content type', () => {
    expect(refusal(() => text('🎬'.repeat(501))).message).toMatch(/longer than 500 characters/);
    expect(refusal(() => text(`a${'\u0301'.repeat(5_000)}`)).message).toMatch(/5000 code points/);
    expect(refusal(() => text('ok', 'a\u0000.mp4')).message).toMatch(/filename contains a NUL/);
    expect(refusal(() => text('a\uD800')).code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(refusal(() => text('ok', 'clip.mp4', 'video/\u0000')).message).toMatch(/content type/);
  });

  it('cuts a long filename to 1 000 whole characters', () => {
    expect(text('t', `${'a'.repeat(999)}🎬🎬`).originalFilename).toBe(`${'a'.repeat(999)}🎬`);
  });
});

describe('log positions', () => {
  it('take 0 up to bigint\'s maximum and nothing else', () => {
    expect(parsePosition('0', 'p')).toBe(0n);
    expect(parsePosition('9223372036854775807', 'p')).toBe(9_223_372_036_854_775_807n);
    for (const bad of ['9223372036854775808', '9999999999999999999', '-1', '1e3', '', '12345678901234567890']) {
      expect(refusal(() => parsePosition(bad, 'afterPosition')).message).toMatch(/afterPosition must be a log position/);
    }
  });
});

describe('the request boundary', () => {
  const doc = parse('query($t: [String!]) { events(types: $t) { edges { cursor } } }');

  it('refuses unstorable strings in variables (at any depth) and in the query, naming where', () => {
    expect(checkRequestInput(doc, { t: ['ok', 'a\u0000'] })?.message).toMatch(/variables\.t\[1\] contains a NUL/);
    expect(checkRequestInput(doc, { a: { b: { c: '\uD800' } } })?.message).toMatch(/variables\.a\.b\.c contains half/);
    expect(checkRequestInput(parse('{ video(id: "\\u0000") { id } }'), {})?.code).toBe(ErrorCode.BAD_USER_INPUT);
  });

  it(`refuses lists over ${MAX_LIST_ITEMS} items, in variables and in the query`, () => {
    expect(checkRequestInput(doc, { t: Array<string>(MAX_LIST_ITEMS).fill('x') })).toBeNull();
    expect(checkRequestInput(doc, { t: Array<string>(70_000).fill('x') })?.message).toMatch(/70000 items/);
    const literal = `{ events(types: [${Array<string>(MAX_LIST_ITEMS + 1).fill('"x"').join(',')}]) { edges { cursor } } }`;
    expect(checkRequestInput(parse(literal), undefined)?.message).toMatch(/101 items/);
  });

  it('walks deeply nested variables without recursion', () => {
    let nested: unknown = 'a\u0000';
    for (let i = 0; i < 100_000; i += 1) nested = [nested];
    expect(checkRequestInput(doc, { deep: nested })?.code).toBe(ErrorCode.BAD_USER_INPUT);
  });

  it('leaves objects that are not plain JSON alone (an upload\'s Upload instance)', () => {
    class Upload {
      readonly name = 'a\u0000';
    }
    expect(checkRequestInput(doc, { file: new Upload() })).toBeNull();
  });
});

describe('a result that only refuses the input (answered with HTTP 400)', () => {
  const refused = { message: 'no', extensions: { code: 'BAD_USER_INPUT' } };
  it('is one whose every error is BAD_USER_INPUT and whose top-level fields are all null', () => {
    expect(isInputRefusal({ data: null, errors: [refused] })).toBe(true);
    expect(isInputRefusal({ data: { video: null }, errors: [refused] })).toBe(true);
    expect(isInputRefusal({ errors: [refused, refused] })).toBe(true);
  });
  it('is not a partial result, another error code, or a result without errors', () => {
    expect(isInputRefusal({ data: { video: null, videos: { edges: [] } }, errors: [refused] })).toBe(false);
    expect(isInputRefusal({ data: null, errors: [refused, { message: 'x', extensions: { code: 'INTERNAL' } }] })).toBe(false);
    expect(isInputRefusal({ data: { video: null } })).toBe(false);
  });
});
