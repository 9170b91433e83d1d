import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/config.js';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import { storageSettingsFromConfig } from '../../services/main/settings.js';

describe('loadConfig', () => {
  it('has working defaults for a developer machine', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ PORT: 4000, WORKERS: 2, MEDIA_ROOT: './data/media', DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/framelog' });
    expect(config.RETRY_DELAYS_MS).toEqual([5_000, 30_000, 120_000]);
    expect(config.AUTH_CACHE_SECONDS).toBe(5);
    expect(config.REQUEST_TIMEOUT_SECONDS).toBe(3_600);
    expect(config).toMatchObject({ MAX_SUBSCRIPTIONS_PER_SOCKET: 100, MAX_SUBSCRIPTIONS_PER_TOKEN: 1_000 });
    expect(config).toMatchObject({ SPLIT_MIN_SECONDS: 60, SEGMENT_SECONDS: 30 });
    expect(loadConfig({ SPLIT_MIN_SECONDS: '0', SEGMENT_SECONDS: '4' })).toMatchObject({ SPLIT_MIN_SECONDS: 0, SEGMENT_SECONDS: 4 });
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
    ['STORAGE', 'gcs'],
    ['S3_ENDPOINT', 'ftp://store.example'],
    ['S3_BUCKET', 'Not_A_Bucket'],
    ['S3_PREFIX', '../escape'],
    ['S3_PREFIX', '/absolute'],
    ['S3_FORCE_PATH_STYLE', 'yes'],
    ['S3_ACCESS_KEY_ID', 'only-the-key'],
    ['SPLIT_MIN_SECONDS', '-1'],
    ['SEGMENT_SECONDS', '3'],
    ['SEGMENT_SECONDS', '0'],
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

  it('PUBLIC_URL: empty by default (relative media URLs), an http(s) origin without its final slash, anything else refused', () => {
    expect(loadConfig({}).PUBLIC_URL).toBe('');
    expect(loadConfig({ PUBLIC_URL: 'https://video.example.com/' }).PUBLIC_URL).toBe('https://video.example.com');
    expect(() => loadConfig({ PUBLIC_URL: 'video.example.com' })).toThrow(/PUBLIC_URL/);
    expect(() => loadConfig({ PUBLIC_URL: 'ftp://video.example.com' })).toThrow(/PUBLIC_URL/);
  });
  it('S3 settings: a key prefix gets its final slash; keys are both or neither', () => {
    expect(loadConfig({}).STORAGE).toBe('local');
    expect(loadConfig({ S3_PREFIX: 'tenants/a' }).S3_PREFIX).toBe('tenants/a/');
    expect(loadConfig({ S3_PREFIX: 'framelog/' }).S3_PREFIX).toBe('framelog/');
    expect(() => loadConfig({ S3_SECRET_ACCESS_KEY: 'only-the-secret' })).toThrow(/S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY together/);
  });
});

describe('storageSettingsFromConfig', () => {
  it('local: MEDIA_ROOT', () => {
    expect(storageSettingsFromConfig(loadConfig({ MEDIA_ROOT: '/srv/media' }))).toEqual({ kind: 'local', root: '/srv/media' });
  });
  it('s3 without keys: the local Swift test account in development, the SDK default chain in production', () => {
    const development = storageSettingsFromConfig(loadConfig({ STORAGE: 's3' }));
    expect(development).toMatchObject({ kind: 's3', endpoint: 'http://127.0.0.1:8080', bucket: 'framelog', forcePathStyle: true, prefix: '' });
    expect(development.kind === 's3' && development.credentials).toEqual({ accessKeyId: 'test:tester', secretAccessKey: 'testing' });
    const production = storageSettingsFromConfig(loadConfig({ STORAGE: 's3', NODE_ENV: 'production' }));
    expect(production.kind === 's3' && production.credentials).toBeUndefined();
    const given = storageSettingsFromConfig(loadConfig({ STORAGE: 's3', NODE_ENV: 'production', S3_ACCESS_KEY_ID: 'k', S3_SECRET_ACCESS_KEY: 's' }));
    expect(given.kind === 's3' && given.credentials).toEqual({ accessKeyId: 'k', secretAccessKey: 's' });
  });
});
