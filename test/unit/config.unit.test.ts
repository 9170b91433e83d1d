import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/config.js';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';

describe('loadConfig', () => {
  it('has working defaults for a developer machine', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ PORT: 4000, WORKERS: 2, MEDIA_ROOT: './data/media', DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/framelog' });
    expect(config.RETRY_DELAYS_MS).toEqual([5_000, 30_000, 120_000]);
    expect(config.AUTH_CACHE_SECONDS).toBe(5);
    expect(config.REQUEST_TIMEOUT_SECONDS).toBe(3_600);
    expect(config).toMatchObject({ MAX_SUBSCRIPTIONS_PER_SOCKET: 100, MAX_SUBSCRIPTIONS_PER_TOKEN: 1_000 });
  });
  it('refuses a per-socket subscription limit above the per-token one', () => {
    expect(() => loadConfig({ MAX_SUBSCRIPTIONS_PER_SOCKET: '50', MAX_SUBSCRIPTIONS_PER_TOKEN: '10' })).toThrow(/MAX_SUBSCRIPTIONS_PER_SOCKET: must not be above MAX_SUBSCRIPTIONS_PER_TOKEN/);
  });
  it('parses values from the environment', () => {
    expect(loadConfig({ PORT: '8080', RETRY_DELAYS_MS: '10,20', RELAY_IN_API: 'false' })).toMatchObject({ PORT: 8080, RETRY_DELAYS_MS: [10, 20], RELAY_IN_API: false });
    expect(loadConfig({ AUTH_CACHE_SECONDS: '0' }).AUTH_CACHE_SECONDS).toBe(0);
  });
  it.each([
    ['PORT', 'eighty'],
    ['DATABASE_URL', 'mysql://x'],
    ['MAX_ATTEMPTS', '0'],
    ['RETRY_DELAYS_MS', '5s'],
    ['JOB_TIMEOUT_SECONDS', '3600'],
    ['METRICS_PORT', '70000'],
    ['AUTH_CACHE_SECONDS', '-1'],
    ['REQUEST_TIMEOUT_SECONDS', '0'],
    ['PG_POOL_MAX', '1'],
    ['MAX_SUBSCRIPTIONS_PER_SOCKET', '0'],
    ['MAX_SUBSCRIPTIONS_PER_TOKEN', 'many'],
  ])('a bad %s stops start-up with its name in the message', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FramelogError);
    expect((error as FramelogError).code).toBe(ErrorCode.CONFIG_INVALID);
    expect((error as FramelogError).message).toContain(name);
  });
});
