import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import { assertValidKey } from '../keys.js';
import type { OutputFile, OutputManifest, OutputSet } from './types.js';

/** A new version id (types.ts: `v` + base-36 time + `-` + 12 hex digits); sorts by time within a set. */
export const newOutputVersion = (): string => `v${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;

type State = 'open' | 'committed' | 'aborted';

/**
 * An output set version whose files producers write into a local staging directory (ffmpeg needs files);
 * backends differ only in how `commit` publishes the staged files and what `abort` removes.
 */
export abstract class StagedOutputSet implements OutputSet {
  readonly version = newOutputVersion();
  protected state: State = 'open';
  /** Where the version's files are written before commit. */
  protected abstract readonly stagingDir: string;

  protected constructor(readonly setKey: string) {}

  abstract commit(): Promise<OutputManifest>;
  abstract abort(): Promise<void>;

  keyOf(name: string): string {
    return `${this.setKey}/${this.version}/${assertValidKey(name)}`;
  }

  async localPath(name: string): Promise<string> {
    const file = this.stagedPath(name);
    await mkdir(path.dirname(file), { recursive: true });
    return file;
  }

  async localDir(name: string): Promise<string> {
    const dir = this.stagedPath(name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async writeFile(name: string, body: Readable | Uint8Array | string): Promise<OutputFile> {
    const file = await this.localPath(name);
    if (body instanceof Readable) await pipeline(body, createWriteStream(file));
    else await writeFile(file, body);
    return { name, key: this.keyOf(name), sizeBytes: (await stat(file)).size };
  }

  protected stagedPath(name: string): string {
    this.assertOpen('write to');
    return path.join(this.stagingDir, assertValidKey(name));
  }

  protected assertOpen(action: string): void {
    if (this.state !== 'open') {
      throw new FramelogError(ErrorCode.INTERNAL, `Cannot ${action} output set ${this.setKey} version ${this.version}: it is ${this.state}.`);
    }
  }

  /** Every regular file staged, by name; a name that is not a valid key segment path refuses the commit. */
  protected async stagedFiles(): Promise<OutputFile[]> {
    const entries = await readdir(this.stagingDir, { recursive: true, withFileTypes: true });
    const files: OutputFile[] = [];
    for (const entry of entries) {
      if (entry.isDirectory()) continue;
      const name = path.relative(this.stagingDir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/');
      if (!entry.isFile()) throw new FramelogError(ErrorCode.BAD_USER_INPUT, `Output ${JSON.stringify(name)} is not a regular file.`);
      files.push({ name, key: this.keyOf(name), sizeBytes: (await stat(path.join(entry.parentPath, entry.name))).size });
    }
    return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}
