import type { Readable } from 'node:stream';

/**
 * The storage contract every backend implements (local disk today, an S3-compatible store next).
 *
 * Keys are relative, slash-separated and validated (keys.ts); no caller builds a path or a URL from a
 * backend's layout. Three kinds of data go through it:
 * - sources: one object per upload, streamed in by the API (`writeStream`) and read by a worker as a local
 *   file for ffmpeg (`readLocal`);
 * - output sets: everything one processing run of a video produces (MP4 renditions, poster, HLS/DASH
 *   playlists, init segments, media segments), written as a set and published together (`openOutputSet`);
 * - reads for the public `/media` route (`stat` + `read` with a byte range); what is served and with which
 *   HTTP headers is decided once for every backend (published.ts, httpPolicy.ts), not by the backend.
 */
export interface MediaStorage {
  /**
   * Streams `source` to `key`, hashing on the fly; the object appears at `key` only once every byte is
   * durable. On any failure the source is destroyed and nothing is left at `key`. Errors: UPLOAD_EMPTY
   * (no byte arrived), UPLOAD_TOO_LARGE (more than `maxBytes`, refused as soon as it arrives),
   * UPLOAD_FAILED (retryable: the source itself failed, e.g. the client went away), BAD_USER_INPUT
   * (invalid key); a failure of the store keeps its own error.
   */
  writeStream(key: string, source: Readable, options: WriteStreamOptions): Promise<WrittenObject>;

  /** A local file with the bytes of `key` for ffmpeg to read, or null when `key` does not exist. */
  readLocal(key: string): Promise<LocalFile | null>;

  /**
   * Starts a new version of the output set at `setKey` (e.g. outputSetKey(videoId) = `renditions/<id>`).
   * Nothing of it is visible until `commit`; `abort` (or a crash) leaves nothing visible. Each version is
   * staged apart and opening touches no other: another run of the same set may still be writing its own.
   * Errors: BAD_USER_INPUT for an invalid `setKey`.
   */
  openOutputSet(setKey: string): Promise<OutputSet>;

  /**
   * Removes what unfinished runs of the set left behind (a worker killed mid-attempt), committed versions
   * untouched. Call it only when no run of the set can still be writing (its video is terminal).
   */
  removeUnfinished(setKey: string): Promise<void>;

  /** The manifest of the set's committed version, or null when the set was never committed (or removed). */
  readManifest(setKey: string): Promise<OutputManifest | null>;

  /**
   * Size, time and validator of `key`, or null when nothing is there. A backend may show files of a
   * version not committed yet (S3 objects are visible once uploaded): /media serves only versions the
   * manifest names (published.ts), so that is decided once, not per backend.
   */
  stat(key: string): Promise<StoredObject | null>;

  /**
   * The bytes of `key` (only `range`, inclusive at both ends, when given; it must lie within the size
   * that `stat` reported), or null when `key` does not exist. The caller consumes or destroys the stream.
   */
  read(key: string, range?: ByteRange): Promise<Readable | null>;

  exists(key: string): Promise<boolean>;

  /** Removes `key`; a missing key is not an error. */
  remove(key: string): Promise<void>;

  /**
   * Removes every key under `prefix`: e.g. all outputs of one video, every version and the manifest of
   * its output set. A missing prefix is not an error.
   */
  removePrefix(prefix: string): Promise<void>;
}

export interface WriteStreamOptions {
  /** More bytes than this abort the write with UPLOAD_TOO_LARGE as soon as they arrive. */
  maxBytes: number;
}

export interface WrittenObject {
  sizeBytes: number;
  /** Lower-case hex sha256 of the bytes written, computed while streaming. */
  sha256: string;
}

export interface StoredObject {
  sizeBytes: number;
  modifiedAt: Date;
  /**
   * A strong HTTP validator of the bytes, quoted as the ETag header wants it (`"…"`): the store's own
   * (S3's ETag) or one derived from size and time (local disk).
   */
  etag: string;
}

/** Bytes `start` to `end` of an object, both inclusive, as in HTTP's `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

/** A local file holding a stored object's bytes, for ffmpeg to read; `release` when done with it. */
export interface LocalFile {
  path: string;
  sizeBytes: number;
  /** Local disk: nothing to do. A remote store: deletes the downloaded copy. */
  release(): Promise<void>;
}

/**
 * One version of an output set being written. Files are named relative to the set (`720p.mp4`,
 * `hls/720p/seg-00001.m4s`: segments of [A-Za-z0-9._-] joined by `/`, not starting with a dot) and are
 * published at `keyOf(name)` = `<setKey>/<version>/<name>`. Versions are unique per run, so a published
 * key never changes its bytes (which makes `Cache-Control: immutable` true), while the set key stays
 * deterministic: committing a version replaces the previous one as a whole (a rerun replaces, never adds).
 *
 * Producers that need real files (ffmpeg, whose HLS/DASH muxers write many files into a directory) write
 * under `localPath`/`localDir`; bytes made in memory (a master playlist, an MPD) go through `writeFile`.
 * Either way a file becomes part of the set, and `commit` publishes exactly the files present then.
 */
export interface OutputSet {
  readonly setKey: string;
  /** Unique id of this version: `v` + time (base 36) + random hex; one key segment. */
  readonly version: string;
  /** The key `name` is published at once committed. Errors: BAD_USER_INPUT for an invalid name. */
  keyOf(name: string): string;
  /**
   * A local path where a producer writes file `name` (its directory exists). Local disk hands out the
   * staging file itself; a remote store a file in its scratch directory, uploaded on commit.
   */
  localPath(name: string): Promise<string>;
  /**
   * A local directory (created, empty) for a producer that writes many files: every file below it is
   * published as `<name>/<relative path>`. Relative paths must be valid names too, or commit refuses.
   */
  localDir(name: string): Promise<string>;
  /** Streams `body` into file `name` of the set (replacing an earlier file of that name in this version). */
  writeFile(name: string, body: Readable | Uint8Array | string): Promise<OutputFile>;
  /**
   * Publishes the version: every file is made durable (local) or uploaded (remote) first, then the
   * manifest is written last, atomically, naming this version and its files; then every other version
   * of the set is removed. Readers see the old version or the new one, never part of one. Resolves with
   * the manifest written. Errors: TRANSCODE_FAILED (retryable) when the set is empty, BAD_USER_INPUT
   * when a produced file has an invalid name; on any failure nothing of this version stays visible (as
   * after `abort`). Committing twice, or after abort, is an INTERNAL error.
   */
  commit(): Promise<OutputManifest>;
  /** Removes everything this version wrote; idempotent, and a no-op once committed. Never throws for a missing file. */
  abort(): Promise<void>;
}

export interface OutputFile {
  /** Name within the set, e.g. `720p.mp4`. */
  name: string;
  /** Published key, `<setKey>/<version>/<name>`. */
  key: string;
  sizeBytes: number;
}

/**
 * The set's manifest, written last by `commit` at manifestKey(setKey) = `<setKey>/manifest.json`; JSON
 * with exactly these fields. It is how a backend without atomic rename (S3) publishes a version.
 */
export interface OutputManifest {
  setKey: string;
  version: string;
  /** ISO 8601 UTC time of the commit. */
  committedAt: string;
  /** Every published file, sorted by name. */
  files: OutputFile[];
}
