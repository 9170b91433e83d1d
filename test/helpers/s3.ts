import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  ListMultipartUploadsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { abortMultipartUploads, deleteObjects } from '../../services/media/storage/s3Delete.js';
import { createS3Client, type S3Settings } from '../../services/media/storage/s3Client.js';
import { S3Objects } from '../../services/media/storage/s3.js';
import { Scratch } from '../../services/media/storage/scratch.js';

/** The S3-compatible server the tests use: the local Swift of ops/s3-up.sh unless overridden. */
export const S3_ENDPOINT = process.env.TEST_S3_ENDPOINT ?? 'http://127.0.0.1:8080';
const ACCESS_KEY_ID = process.env.TEST_S3_ACCESS_KEY_ID ?? 'test:tester';
const SECRET_ACCESS_KEY = process.env.TEST_S3_SECRET_ACCESS_KEY ?? 'testing';

/** The settings of a STORAGE=s3 process on the test server's `bucket`. */
export function s3Env(bucket: string): Record<string, string> {
  return {
    STORAGE: 's3',
    S3_ENDPOINT,
    S3_REGION: 'us-east-1',
    S3_BUCKET: bucket,
    S3_ACCESS_KEY_ID: ACCESS_KEY_ID,
    S3_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
    S3_FORCE_PATH_STYLE: 'true',
  };
}

/**
 * A bucket of its own for one test file (created empty, emptied and deleted by `drop`), so files running
 * in parallel never see each other's objects.
 */
export class TestBucket {
  private constructor(
    readonly settings: S3Settings,
    readonly client: S3Client,
  ) {}

  static async create(): Promise<TestBucket> {
    const settings: S3Settings = {
      endpoint: S3_ENDPOINT,
      region: 'us-east-1',
      bucket: `framelog-test-${randomBytes(5).toString('hex')}`,
      credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
      forcePathStyle: true,
      prefix: '',
    };
    const client = createS3Client(settings);
    await client.send(new CreateBucketCommand({ Bucket: settings.bucket })).catch((error: unknown) => {
      throw new Error(`The S3 server at ${S3_ENDPOINT} is not usable; start it with ops/s3-up.sh.`, { cause: error });
    });
    return new TestBucket(settings, client);
  }

  /** The settings of the STORAGE=s3 processes of a Stack using this bucket. */
  get env(): Record<string, string> {
    return { ...s3Env(this.settings.bucket), S3_PREFIX: this.settings.prefix };
  }

  /** The object operations on this bucket, with a scratch directory of their own. */
  objects(scratchDir: string, prefix = ''): S3Objects {
    return new S3Objects(this.client, { bucket: this.settings.bucket, prefix }, new Scratch(scratchDir));
  }

  /** Every object key in the bucket, sorted. */
  async keys(prefix = ''): Promise<string[]> {
    return (await this.objects('/nonexistent').listObjectKeys(prefix)).sort();
  }

  /** Multipart uploads begun and neither completed nor aborted (parts the store keeps). */
  async pendingUploads(): Promise<string[]> {
    const page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.settings.bucket }));
    return (page.Uploads ?? []).map((upload) => upload.Key ?? '');
  }

  async drop(): Promise<void> {
    await abortMultipartUploads(this.client, this.settings.bucket, '');
    await deleteObjects(this.client, this.settings.bucket, await this.keys());
    await this.client.send(new DeleteBucketCommand({ Bucket: this.settings.bucket }));
    this.client.destroy();
  }
}
