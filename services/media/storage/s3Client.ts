import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { HeadBucketCommand, S3Client, S3ServiceException, type S3ClientConfig } from '@aws-sdk/client-s3';
import { ErrorCode, FramelogError, messageOf } from '../../domain/errors.js';

/** Where an S3-compatible store is and how to talk to it (the S3_* settings, DESIGN §12). */
export interface S3Settings {
  /** e.g. `http://127.0.0.1:8080` (the local Swift) or `https://s3.eu-west-1.amazonaws.com`. */
  endpoint: string;
  region: string;
  bucket: string;
  /** Absent: the AWS SDK's default credential chain (environment, web identity, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** `endpoint/bucket/key` instead of `bucket.endpoint/key`; what most non-AWS stores need. */
  forcePathStyle: boolean;
  /** Prepended to every key: `''` or segments ending with `/` (config.ts validates it). */
  prefix: string;
}

/** Sockets per client: parallel part uploads, /media streams and metadata requests share them. */
const MAX_SOCKETS = 64;

/**
 * The configuration of every S3 client framelog makes (MediaStorage's and the tus S3 store's, which
 * builds its own client from it), for any S3-compatible store. Checksums only "when required": the SDK's
 * default (a CRC32 trailer on every upload, sent as `aws-chunked`) is refused by stores that are not AWS
 * (Swift's s3api answers 500), and the sha256 that matters is computed by framelog itself.
 */
export function s3ClientConfig(settings: Omit<S3Settings, 'bucket' | 'prefix'>): S3ClientConfig {
  return {
    endpoint: settings.endpoint,
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    ...(settings.credentials === undefined ? {} : { credentials: settings.credentials }),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // The options of the SDK's own NodeHttpHandler.
    requestHandler: {
      httpAgent: new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
      connectionTimeout: 5_000,
      // Idle time on a socket, not the length of a transfer: a long download or upload keeps going.
      requestTimeout: 60_000,
    },
  };
}

/** An S3 client for any S3-compatible store (s3ClientConfig). */
export function createS3Client(settings: S3Settings): S3Client {
  return new S3Client(s3ClientConfig(settings));
}

/** Whether an S3 call failed because the object (or upload) is not there. */
export function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || error.name === 'NoSuchUpload' || error.$metadata.httpStatusCode === 404;
}

/**
 * Checks at start that the bucket exists and the credentials may use it, so a wrong S3_* setting stops
 * the process with a message naming it instead of failing the first upload. Errors: CONFIG_INVALID.
 */
export async function checkBucket(client: S3Client, settings: Pick<S3Settings, 'bucket' | 'endpoint'>): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: settings.bucket }));
  } catch (error) {
    const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
    const problem =
      status === 404
        ? `bucket ${settings.bucket} does not exist (create it, or set S3_BUCKET)`
        : status === 403 || status === 401
          ? `the credentials (S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY) may not use bucket ${settings.bucket}`
          : `${settings.endpoint} did not answer for bucket ${settings.bucket}: ${messageOf(error)} (check S3_ENDPOINT, or start it: ops/s3-up.sh)`;
    throw new FramelogError(ErrorCode.CONFIG_INVALID, `Invalid settings — S3: ${problem}`, { cause: error, details: { bucket: settings.bucket, status } });
  }
}
