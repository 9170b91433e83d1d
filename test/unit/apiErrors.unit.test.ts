import { GraphQLError } from 'graphql';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createFormatError, toFramelogError } from '../../services/api/errors.js';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';

const formatError = createFormatError(pino({ level: 'silent' }));
const resolverError = (original: Error) => new GraphQLError(original.message, { path: ['video'], originalError: original });

describe('formatError', () => {
  it('masks an internal error: stable code, no message, no details', () => {
    const error = resolverError(new Error('relation "videos" does not exist at 10.0.0.5 password=hunter2'));
    const formatted = formatError(error.toJSON(), error);
    expect(formatted.message).toBe('Internal server error.');
    expect(formatted.extensions).toEqual({ code: ErrorCode.INTERNAL, retryable: false });
    expect(JSON.stringify(formatted)).not.toContain('hunter2');
  });

  it('keeps a typed error, also when a plugin wraps it (the role gate)', () => {
    const typed = new FramelogError(ErrorCode.FORBIDDEN, 'The role "viewer" may not use audit.', { details: { role: 'viewer' } });
    const wrapped = new GraphQLError(typed.message, { originalError: typed });
    const formatted = formatError(wrapped.toJSON(), wrapped);
    expect(formatted.extensions).toEqual({ code: 'FORBIDDEN', retryable: false, role: 'viewer' });
    expect(formatted.message).toBe(typed.message);
  });

  it("gives the multipart parser's errors client codes: a client gone mid-file is UPLOAD_FAILED, other exposed 4xx BAD_USER_INPUT", () => {
    // graphql-upload-minimal's HttpError, shaped as http-errors shapes them: expose marks a client-safe message.
    const parserError = (status: number, message: string) => Object.assign(new Error(message), { status, expose: true });
    expect(toFramelogError(parserError(499, 'Request disconnected during file upload stream parsing.'))).toMatchObject({ code: ErrorCode.UPLOAD_FAILED, retryable: true });
    expect(toFramelogError(parserError(400, 'File missing in the request.'))).toMatchObject({ code: ErrorCode.BAD_USER_INPUT, message: 'File missing in the request.' });
    // A status alone does not make a message safe to show.
    expect(toFramelogError(Object.assign(new Error('pool at 10.0.0.5 refused'), { status: 400 })).code).toBe(ErrorCode.INTERNAL);
  });
});
