import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import { manifestKey, outputSetKey } from '../../services/media/keys.js';
import { LocalDiskStorage, type OutputSet } from '../../services/media/storage.js';
import { listFiles } from '../helpers/media.js';

/** Output sets and reads of the local backend (services/media/storage/local*.ts), on a real directory. */

let dir: string;
let storage: LocalDiskStorage;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'framelog-storage-'));
  storage = new LocalDiskStorage(path.join(dir, 'media'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const newSetKey = () => outputSetKey(randomUUID());

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error: unknown = await promise.then(
    () => new Error(`expected ${code}, but it succeeded`),
    (caught: unknown) => caught,
  );
  expect(error, String(error)).toBeInstanceOf(FramelogError);
  expect((error as FramelogError).code).toBe(code);
}

/** An HLS-like set: a playlist and `segments` segments whose bytes all name the set's version. */
async function writeSet(set: OutputSet, segments: number): Promise<void> {
  await set.writeFile('index.m3u8', `#EXTM3U\n# ${set.version}\n`);
  for (let index = 0; index < segments; index += 1) {
    await set.writeFile(`hls/seg-${String(index).padStart(3, '0')}.m4s`, Readable.from([Buffer.from(set.version)]));
  }
}

const readText = async (key: string) => {
  const body = await storage.read(key);
  return body === null ? null : text(body);
};

describe('output sets on local disk', () => {
  it('publishes nothing before commit, then every file at once with the manifest naming them', async () => {
    const setKey = newSetKey();
    const set = await storage.openOutputSet(setKey);
    await writeSet(set, 3);
    const produced = path.join(await set.localDir('dash'), 'init.mp4');
    await writeFile(produced, 'init');
    const names = ['dash/init.mp4', 'hls/seg-000.m4s', 'hls/seg-001.m4s', 'hls/seg-002.m4s', 'index.m3u8'];
    for (const name of names) expect(await storage.stat(set.keyOf(name)), name).toBeNull();
    expect(await storage.readManifest(setKey)).toBeNull();

    const manifest = await set.commit();
    expect(manifest).toMatchObject({ setKey, version: set.version });
    expect(manifest.files.map((file) => file.name)).toEqual(names);
    expect(await storage.readManifest(setKey)).toEqual(manifest);
    for (const file of manifest.files) {
      expect(file.key).toBe(`${setKey}/${set.version}/${file.name}`);
      expect(await storage.stat(file.key)).toMatchObject({ sizeBytes: file.sizeBytes });
    }
    expect(await readText(set.keyOf('dash/init.mp4'))).toBe('init');
    expect(await listFiles(storage.localPath(setKey))).toEqual(['manifest.json', ...names.map((name) => `${set.version}/${name}`)].sort());
  });

  it('replaces the set on a rerun: the old version and outputs written before output sets go', async () => {
    const setKey = newSetKey();
    // An output of the pre-output-set layout, directly in the set directory.
    await storage.writeStream(`${setKey}/720p.mp4`, Readable.from([Buffer.from('old layout')]), { maxBytes: 100 });
    const first = await storage.openOutputSet(setKey);
    await writeSet(first, 2);
    await first.commit();
    const second = await storage.openOutputSet(setKey);
    await writeSet(second, 1);
    const manifest = await second.commit();

    expect(second.version).not.toBe(first.version);
    expect((await storage.readManifest(setKey))?.version).toBe(second.version);
    for (const name of ['index.m3u8', 'hls/seg-000.m4s', 'hls/seg-001.m4s']) expect(await storage.stat(first.keyOf(name))).toBeNull();
    expect(await storage.stat(`${setKey}/720p.mp4`)).toBeNull();
    expect(await listFiles(storage.localPath(setKey))).toEqual(['manifest.json', ...manifest.files.map((file) => `${second.version}/${file.name}`)].sort());
  });

  it('lets a reader see the old set or the new one, never part of one, while sets are committed', async () => {
    const setKey = newSetKey();
    const initial = await storage.openOutputSet(setKey);
    await writeSet(initial, 40);
    await initial.commit();

    let committing = true;
    let observations = 0;
    const reader = (async () => {
      while (committing) {
        const manifest = await storage.readManifest(setKey);
        if (manifest === null) throw new Error('the manifest disappeared during a commit');
        const contents = await Promise.all(manifest.files.filter((file) => file.name.endsWith('.m4s')).map((file) => readText(file.key)));
        const current = (await storage.readManifest(setKey))?.version;
        // Every file of the version read is there with that version's bytes, unless a newer commit
        // already replaced the version (then its files go as a whole).
        if (current === manifest.version) expect(contents).toEqual(contents.map(() => manifest.version));
        else expect(contents.every((content) => content === manifest.version || content === null)).toBe(true);
        observations += 1;
      }
    })();
    try {
      for (let run = 0; run < 10; run += 1) {
        const set = await storage.openOutputSet(setKey);
        await writeSet(set, 40);
        expect(await storage.stat(set.keyOf('hls/seg-039.m4s'))).toBeNull();
        await set.commit();
      }
    } finally {
      committing = false;
      await reader;
    }
    expect(observations).toBeGreaterThan(0);
  });

  it('abort leaves nothing: no files, no staging, not even the set directory of a first run', async () => {
    const setKey = newSetKey();
    const set = await storage.openOutputSet(setKey);
    await writeSet(set, 2);
    await writeFile(await set.localPath('720p.mp4'), 'half a rendition');
    await set.abort();
    await set.abort(); // idempotent
    await expect(stat(storage.localPath(setKey))).rejects.toMatchObject({ code: 'ENOENT' });
    await expectCode(set.commit(), ErrorCode.INTERNAL);
  });

  it('abort after an earlier commit keeps the committed set as it was', async () => {
    const setKey = newSetKey();
    const committed = await storage.openOutputSet(setKey);
    await writeSet(committed, 1);
    const manifest = await committed.commit();
    await committed.abort(); // a no-op once committed
    const failed = await storage.openOutputSet(setKey);
    await writeSet(failed, 5);
    await failed.abort();
    expect(await storage.readManifest(setKey)).toEqual(manifest);
    expect(await listFiles(storage.localPath(setKey))).toEqual(['manifest.json', ...manifest.files.map((file) => `${committed.version}/${file.name}`)].sort());
  });

  it('a commit that fails leaves nothing of its version (an empty set, a produced file with a bad name)', async () => {
    const setKey = newSetKey();
    const empty = await storage.openOutputSet(setKey);
    await expectCode(empty.commit(), ErrorCode.TRANSCODE_FAILED);
    await expect(stat(storage.localPath(setKey))).rejects.toMatchObject({ code: 'ENOENT' });

    const badName = await storage.openOutputSet(setKey);
    await writeSet(badName, 1);
    // ffmpeg writing a name no key may have (a space) into a directory it was given.
    await writeFile(path.join(await badName.localDir('hls2'), 'bad name.m4s'), 'x');
    await expectCode(badName.commit(), ErrorCode.BAD_USER_INPUT);
    await expect(stat(storage.localPath(setKey))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it("opening a set leaves another run's staging alone (it may still be writing); removeUnfinished removes it", async () => {
    const setKey = newSetKey();
    const killed = await storage.openOutputSet(setKey);
    await writeSet(killed, 3);
    const next = await storage.openOutputSet(setKey);
    await writeSet(next, 1);
    await next.commit();
    expect((await readdir(storage.localPath(setKey))).sort()).toEqual([`.staging-${killed.version}`, 'manifest.json', next.version]);
    await storage.removeUnfinished(setKey);
    expect((await readdir(storage.localPath(setKey))).sort()).toEqual(['manifest.json', next.version]);

    // A set never committed goes entirely; a missing one is fine.
    const never = newSetKey();
    await writeSet(await storage.openOutputSet(never), 1);
    await storage.removeUnfinished(never);
    await expect(stat(storage.localPath(never))).rejects.toMatchObject({ code: 'ENOENT' });
    await storage.removeUnfinished(never);
  });

  it('refuses names and set keys that could leave the set, before touching the disk', async () => {
    const set = await storage.openOutputSet(newSetKey());
    for (const bad of ['../escape.mp4', '/etc/passwd', 'a//b', '.hidden', 'hls/../../x', '', 'a b']) {
      expect(() => set.keyOf(bad), bad).toThrow(FramelogError);
      await expectCode(set.localPath(bad), ErrorCode.BAD_USER_INPUT);
      await expectCode(set.localDir(bad), ErrorCode.BAD_USER_INPUT);
      await expectCode(set.writeFile(bad, 'x'), ErrorCode.BAD_USER_INPUT);
    }
    for (const bad of ['../outside', 'renditions/../../x', '/tmp']) {
      await expectCode(storage.openOutputSet(bad), ErrorCode.BAD_USER_INPUT);
      await expectCode(storage.readManifest(bad), ErrorCode.BAD_USER_INPUT);
    }
    await set.abort();
    expect(await readdir(dir)).toEqual(['media']);
  });

  it('refuses a symlink a producer left in the set instead of publishing what it points to', async () => {
    const setKey = newSetKey();
    const secret = path.join(dir, 'secret.txt');
    await writeFile(secret, 'not for the public');
    const set = await storage.openOutputSet(setKey);
    await writeSet(set, 1);
    await symlink(secret, await set.localPath('leak.m4s'));
    await expectCode(set.commit(), ErrorCode.BAD_USER_INPUT);
    await expect(stat(storage.localPath(setKey))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readFile(secret, 'utf8')).toBe('not for the public');
  });
});

describe('reads on local disk', () => {
  it('reads a byte range, both ends inclusive, and the whole object without one', async () => {
    const key = `${newSetKey()}/bytes.bin`;
    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, index) => index % 251));
    await storage.writeStream(key, Readable.from([bytes]), { maxBytes: 10_000 });
    const stored = await storage.stat(key);
    expect(stored).toMatchObject({ sizeBytes: 1000 });
    expect(stored?.etag).toMatch(/^"[^"]+"$/);
    const read = async (range?: { start: number; end: number }) => Buffer.concat(await (await storage.read(key, range))!.toArray());
    expect(await read()).toEqual(bytes);
    expect(await read({ start: 10, end: 19 })).toEqual(bytes.subarray(10, 20));
    expect(await read({ start: 999, end: 999 })).toEqual(bytes.subarray(999));
  });

  it('has nothing for a missing key, a directory, or the manifest read as a missing object', async () => {
    const setKey = newSetKey();
    expect(await storage.stat(`${setKey}/nope.mp4`)).toBeNull();
    expect(await storage.read(`${setKey}/nope.mp4`)).toBeNull();
    const set = await storage.openOutputSet(setKey);
    await writeSet(set, 1);
    await set.commit();
    expect(await storage.stat(`${setKey}/${set.version}`)).toBeNull();
    expect(await storage.read(`${setKey}/${set.version}`)).toBeNull();
    expect(await storage.stat(manifestKey(setKey))).not.toBeNull(); // storage has it; /media does not serve it
  });
});
