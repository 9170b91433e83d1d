import { expect } from 'vitest';
import { FramelogError, type ErrorCode } from '../../services/domain/errors.js';

/** Awaits `promise`, expecting it to reject with a FramelogError of `code`; returns that error. */
export async function failure(promise: Promise<unknown>, code: ErrorCode): Promise<FramelogError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected ${code}, but it succeeded`);
    },
    (caught: unknown) => caught,
  );
  expect(error, String(error)).toBeInstanceOf(FramelogError);
  expect((error as FramelogError).code, (error as Error).message).toBe(code);
  return error as FramelogError;
}
