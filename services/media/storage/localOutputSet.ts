import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import { OUTPUT_VERSION } from '../keys.js';
import { isMissing, syncDirectory, syncFile } from './durable.js';
import { StagedOutputSet } from './stagedOutputSet.js';
import type { OutputManifest } from './types.js';

const MANIFEST_FILE = 'manifest.json';
const STAGING_PREFIX = '.staging-';

export { newOutputVersion } from './stagedOutputSet.js';

/**
 * One output set version on local disk, staged in `<setDir>/.staging-<version>/` and published by
 * renaming that directory to `<setDir>/<version>/` (atomic: readers see all of it or none), then
 * writing `<setDir>/manifest.json` by temp file and rename.
 */
export class LocalOutputSet extends StagedOutputSet {
  private constructor(
    private readonly setDir: string,
    setKey: string,
  ) {
    super(setKey);
  }

  protected get stagingDir(): string {
    return path.join(this.setDir, `${STAGING_PREFIX}${this.version}`);
  }

  /** Starts a version, staged apart from every other run's. */
  static async open(setDir: string, setKey: string): Promise<LocalOutputSet> {
    const set = new LocalOutputSet(setDir, setKey);
    await mkdir(set.stagingDir, { recursive: true });
    return set;
  }

  async commit(): Promise<OutputManifest> {
    this.assertOpen('commit');
    const versionDir = path.join(this.setDir, this.version);
    let published = false;
    try {
      const files = await this.stagedFiles();
      if (files.length === 0) {
        throw new FramelogError(ErrorCode.TRANSCODE_FAILED, `Output set ${this.setKey} is empty; nothing to commit.`, { retryable: true });
      }
      await syncAll(files.map(({ name }) => this.stagedPath(name)));
      await rename(this.stagingDir, versionDir);
      published = true;
      await syncDirectory(this.setDir);
      const manifest: OutputManifest = { setKey: this.setKey, version: this.version, committedAt: new Date().toISOString(), files };
      await writeManifest(this.setDir, manifest);
      this.state = 'committed';
      // Best effort: an old version left behind only keeps serving its old URLs until the next commit.
      await this.removeOtherVersions().catch(() => undefined);
      return manifest;
    } catch (error) {
      if (published) await rm(versionDir, { recursive: true, force: true }).catch(() => undefined);
      await this.abort();
      throw error;
    }
  }

  async abort(): Promise<void> {
    if (this.state === 'committed') return;
    this.state = 'aborted';
    await rm(this.stagingDir, { recursive: true, force: true });
    // A failed first run must not leave an empty set directory behind; rmdir refuses a non-empty one.
    await rmdir(this.setDir).catch(() => undefined);
  }

  /**
   * A rerun replaces the set: every version but the one the manifest names now goes, and so do files
   * of outputs written before output sets (directly in the set directory). Read back rather than
   * assumed to be ours, so that the manifest never names a removed version.
   */
  private async removeOtherVersions(): Promise<void> {
    const current = parseManifest(await readFile(path.join(this.setDir, MANIFEST_FILE), 'utf8')).version;
    await removeEntries(this.setDir, (name) => name !== MANIFEST_FILE && name !== current && !name.startsWith('.'));
    await syncDirectory(this.setDir);
  }
}

/**
 * Removes the staging directories (and temp manifests) unfinished runs left in `setDir`, and the set
 * directory itself when nothing else is in it.
 */
export async function removeUnfinishedRuns(setDir: string): Promise<void> {
  await removeEntries(setDir, (name) => name.startsWith('.'));
  await rmdir(setDir).catch(() => undefined);
}

/** fsyncs `files` a batch at a time: an HLS set has hundreds of segments, too many to open at once. */
async function syncAll(files: readonly string[]): Promise<void> {
  const BATCH = 32;
  for (let index = 0; index < files.length; index += BATCH) {
    await Promise.all(files.slice(index, index + BATCH).map(syncFile));
  }
}

async function writeManifest(setDir: string, manifest: OutputManifest): Promise<void> {
  const temp = path.join(setDir, `.${MANIFEST_FILE}.${randomUUID()}.tmp`);
  try {
    await writeFile(temp, `${JSON.stringify(manifest, null, 2)}\n`, { flush: true });
    await rename(temp, path.join(setDir, MANIFEST_FILE));
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
  await syncDirectory(setDir);
}

async function removeEntries(dir: string, selected: (name: string) => boolean): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  await Promise.all(names.filter(selected).map((name) => rm(path.join(dir, name), { recursive: true, force: true })));
}

const ManifestSchema = z.strictObject({
  setKey: z.string(),
  version: z.string().regex(OUTPUT_VERSION),
  committedAt: z.iso.datetime(),
  files: z.array(z.strictObject({ name: z.string(), key: z.string(), sizeBytes: z.number().int().nonnegative() })),
});

/** Parses a manifest's JSON; a malformed one is an INTERNAL error (storage wrote it, nobody else). */
export function parseManifest(text: string): OutputManifest {
  const parsed = ManifestSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new FramelogError(ErrorCode.INTERNAL, `Malformed output set manifest: ${parsed.error.message}`);
  return parsed.data;
}
