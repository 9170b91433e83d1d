import { createReadStream } from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import { manifestKey, OUTPUT_VERSION } from '../keys.js';
import { contentTypeOf } from './httpPolicy.js';
import type { S3Objects } from './s3.js';
import { abortMultipartUploads, deleteObjects } from './s3Delete.js';
import { uploadStream } from './s3Upload.js';
import { removeAttemptDir } from './scratch.js';
import { StagedOutputSet } from './stagedOutputSet.js';
import type { OutputFile, OutputManifest } from './types.js';

/** Files uploaded at once by a commit (each a multipart upload of its own when large). */
const UPLOAD_CONCURRENCY = 4;

/**
 * One output set version on an S3-compatible store. Producers write into a scratch directory of the attempt
 * (ffmpeg needs files); `commit` uploads every file to `<setKey>/<version>/<name>`, then writes the
 * manifest, which is what publishes the version: S3 has no rename, and /media serves only the version the
 * manifest names (published.ts). Then older versions are deleted.
 */
export class S3OutputSet extends StagedOutputSet {
  private constructor(
    private readonly objects: S3Objects,
    setKey: string,
    /** An attempt's directory of the scratch space, removed by commit and abort. */
    protected readonly stagingDir: string,
  ) {
    super(setKey);
  }

  /** Starts a version in a new scratch directory; what other runs of the set uploaded stays (see removeUnfinished). */
  static async open(objects: S3Objects, setKey: string): Promise<S3OutputSet> {
    objects.objectKey(setKey); // validates setKey (BAD_USER_INPUT) before anything is made for it
    return new S3OutputSet(objects, setKey, await objects.scratch.attemptDir('outputs-'));
  }

  /**
   * Removes what runs that never committed left in the store (uploaded files, unfinished multipart
   * uploads). Only when no run of the set can still be uploading (its video is terminal).
   */
  static async removeUnfinished(objects: S3Objects, setKey: string, committedVersion: string | null): Promise<void> {
    const setPrefix = `${objects.objectKey(setKey)}/`;
    await abortMultipartUploads(objects.client, objects.bucket, setPrefix);
    // Only version directories: files from before output sets are still named by events until a commit replaces them.
    const unfinished = (version: string) => version !== committedVersion && OUTPUT_VERSION.test(version);
    await deleteObjects(objects.client, objects.bucket, await listVersionKeys(objects, setKey, unfinished));
  }

  async commit(): Promise<OutputManifest> {
    this.assertOpen('commit');
    try {
      const files = await this.stagedFiles();
      if (files.length === 0) {
        throw new FramelogError(ErrorCode.TRANSCODE_FAILED, `Output set ${this.setKey} is empty; nothing to commit.`, { retryable: true });
      }
      await this.uploadAll(files);
      const manifest: OutputManifest = { setKey: this.setKey, version: this.version, committedAt: new Date().toISOString(), files };
      // One PUT: the manifest is there whole or not at all, and with it the version.
      await this.objects.client.send(
        new PutObjectCommand({
          Bucket: this.objects.bucket,
          Key: this.objects.objectKey(manifestKey(this.setKey)),
          Body: `${JSON.stringify(manifest, null, 2)}\n`,
          ContentType: 'application/json',
        }),
      );
      this.state = 'committed';
      // Best effort: an older version left behind only keeps its old URLs alive until the next commit.
      await this.removeOtherVersions().catch(() => undefined);
      return manifest;
    } catch (error) {
      await this.abort();
      throw error;
    } finally {
      await removeAttemptDir(this.stagingDir);
    }
  }

  async abort(): Promise<void> {
    if (this.state === 'committed') return;
    this.state = 'aborted';
    const versionPrefix = `${this.objects.objectKey(this.setKey)}/${this.version}/`;
    await removeAttemptDir(this.stagingDir);
    await abortMultipartUploads(this.objects.client, this.objects.bucket, versionPrefix);
    await deleteObjects(this.objects.client, this.objects.bucket, await this.objects.listObjectKeys(versionPrefix));
  }

  private async uploadAll(files: readonly OutputFile[]): Promise<void> {
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      // After one failure the others stop taking files.
      for (let file = files[next++]; file !== undefined && !failed; file = files[next++]) {
        await uploadStream({
          client: this.objects.client,
          bucket: this.objects.bucket,
          objectKey: this.objects.objectKey(file.key),
          body: createReadStream(path.join(this.stagingDir, file.name)),
          contentType: contentTypeOf(file.name),
        });
      }
    };
    // All settled before a failure is thrown: abort must not list the version while uploads still land in it.
    const results = await Promise.allSettled(
      Array.from({ length: Math.min(UPLOAD_CONCURRENCY, files.length) }, () =>
        worker().catch((error: unknown) => {
          failed = true;
          throw error;
        }),
      ),
    );
    const rejected = results.find((result) => result.status === 'rejected');
    if (rejected !== undefined) throw rejected.reason;
  }

  /** A rerun replaces the set: everything under it but this version and the manifest goes. */
  private async removeOtherVersions(): Promise<void> {
    await deleteObjects(this.objects.client, this.objects.bucket, await listVersionKeys(this.objects, this.setKey, (version) => version !== this.version));
  }
}

/**
 * Object keys under the set in a version `selected` accepts, the manifest excepted. Files written
 * directly in the set (outputs from before output sets, a "version" that is a file name) count as a
 * version of their own name.
 */
async function listVersionKeys(objects: S3Objects, setKey: string, selected: (version: string) => boolean): Promise<string[]> {
  const setPrefix = `${objects.objectKey(setKey)}/`;
  const manifest = objects.objectKey(manifestKey(setKey));
  return (await objects.listObjectKeys(setPrefix)).filter((key) => key !== manifest && selected(key.slice(setPrefix.length).split('/')[0] ?? ''));
}
