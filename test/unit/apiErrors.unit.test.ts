import { GraphQLError } from 'graphql';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createFormatError } from '../../services/api/errors.js';
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
});
