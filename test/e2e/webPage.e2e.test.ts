import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, revokeToken } from '../../services/api/auth/tokenStore.js';
import { gql } from '../helpers/graphql.js';
import { makeClip } from '../helpers/media.js';
import { waitFor } from '../helpers/processes.js';
import { Stack } from '../helpers/stack.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Screenshots of each screen (git-ignored), to look at after a run. */
const SHOTS = path.join(ROOT, 'test-results', 'web');
/** Debian's chromium-headless-shell (ops/bootstrap.sh): Playwright's own Chromium cannot play H.264. */
const CHROMIUM = '/usr/bin/chromium-headless-shell';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--autoplay-policy=no-user-gesture-required'];

let stack: Stack;
let browser: Browser;
let clips: string;

beforeAll(async () => {
  // The page under test is the one in the sources: build it (as `npm run build:web` does) before the API serves it.
  await build({ root: path.join(ROOT, 'web'), configFile: path.join(ROOT, 'web', 'vite.config.ts'), logLevel: 'warn' });
  await mkdir(SHOTS, { recursive: true });
  clips = await mkdtemp(path.join(tmpdir(), 'framelog-web-'));
  // AUTH_CACHE_SECONDS=0: a revocation takes effect on the next request.
  stack = await Stack.start({ workers: 1, apiEnv: { AUTH_CACHE_SECONDS: '0' } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await rm(clips, { recursive: true, force: true });
});

async function tokenFor(name: string, role: 'viewer' | 'uploader' | 'admin'): Promise<string> {
  return (await createToken(stack.database.db, { name, role })).token;
}

/** A fresh browser profile (empty localStorage) on the page, signed in with `token` from the keyboard. */
async function signedIn(token: string, viewport = { width: 1100, height: 900 }): Promise<Page> {
  const page = await (await browser.newContext({ viewport })).newPage();
  await page.goto(`${stack.apiUrl}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByLabel('API token').press('Enter');
  return page;
}

async function screenshot(page: Page, name: string): Promise<void> {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  expect((await stat(file)).size).toBeGreaterThan(1000);
}

describe('the web page at /', () => {
  it('uploads a clip, shows it reach PROCESSED live, plays it past 2 s and shows its history', async () => {
    const admin = await tokenFor('alice', 'admin');
    const page = await signedIn(admin);
    await page.getByRole('heading', { name: 'Videos' }).waitFor();
    await screenshot(page, '1-list-empty');
    // Survives only if the page is never reloaded: the status must change through the subscription.
    await page.evaluate('window.notReloaded = true');

    const clip = await makeClip(clips, { width: 640, height: 360, durationSeconds: 4, audio: true, name: 'web-clip.mp4' });
    await page.getByLabel('Video file (or drop one here)').setInputFiles(clip);
    await page.getByLabel('Title (optional)').fill('Web clip');
    await page.getByRole('button', { name: 'Upload' }).click();
    const row = page.locator('tbody tr', { hasText: 'Web clip' });
    await row.locator('[data-status="PROCESSED"]').waitFor({ timeout: 180_000 });
    expect(await page.evaluate('window.notReloaded')).toBe(true);
    await screenshot(page, '2-list-processed');

    await row.getByRole('link', { name: 'Web clip' }).click();
    await page.getByRole('heading', { name: 'Web clip' }).waitFor();
    const player = page.locator('video#player');
    await player.waitFor();
    // Page scripts are strings: the test's TypeScript has Node's types, not the DOM's.
    await page.evaluate("(async () => { const video = document.querySelector('video#player'); video.muted = true; await video.play(); })()");
    await page.waitForFunction("document.querySelector('video#player').currentTime > 2", undefined, { timeout: 30_000 });
    await screenshot(page, '3-video-playing');
    // hls.js plays the HLS playlist when the API has adaptive streaming (Video.streaming), else the MP4 rendition.
    const withStreaming = await gql(stack.apiUrl, '{ videos(first: 1) { edges { node { streaming { hlsUrl } } } } }', {}, { authorization: `Bearer ${admin}` });
    expect(await player.getAttribute('data-source')).toBe(withStreaming.errors ? 'mp4' : 'hls');

    await page.getByText(/^Event history/).click();
    const types = await page.locator('#history .event-type').allTextContents();
    // The page uploads resumably: createUpload records UploadStarted, the last tus PATCH VideoUploaded.
    expect(types.slice(0, 2)).toEqual(['UploadStarted', 'VideoUploaded']);
    expect(types.at(-1)).toBe('VideoProcessed');
    const firstRow = await page.locator('#history tbody tr').first().locator('td').allTextContents();
    expect(firstRow[3]).toBe('alice');
    expect(firstRow[4]).toMatch(/^[0-9a-f-]{36}$/);
    await page.getByRole('button', { name: 'Audit this stream' }).click();
    await page.getByText(/^OK: \d+ events checked/).waitFor();
    await screenshot(page, '4-video-history');
  });

  it('pauses a resumable upload from the keyboard, keeps its offset while paused, resumes it, continues it after a reload', async () => {
    const token = await tokenFor('paula', 'uploader');
    const page = await signedIn(token);
    const clip = await makeClip(clips, { width: 1280, height: 720, durationSeconds: 6, audio: true, name: 'paused-clip.mp4' });
    const sizeBytes = (await stat(clip)).size;
    // The PATCH numbered `holdAt` is held until the test lets go, then dropped: a pause lands mid-upload.
    let patches = 0;
    let holdAt = 3;
    let held = false;
    let letGo = (): void => undefined;
    await page.route('**/uploads/**', async (route) => {
      if (route.request().method() === 'PATCH' && ++patches === holdAt) {
        held = true;
        await new Promise<void>((resolve) => (letGo = resolve));
        return route.abort().catch(() => undefined);
      }
      return route.continue();
    });
    await page.getByLabel('Video file (or drop one here)').setInputFiles(clip);
    await page.getByLabel('Title (optional)').fill('Paused clip');
    await page.getByRole('button', { name: 'Upload' }).press('Enter');
    await waitFor(() => held, { timeoutMs: 30_000, message: 'the third chunk to be sent' });
    await page.getByRole('button', { name: 'Pause' }).press('Enter');
    await page.getByRole('button', { name: 'Resume' }).waitFor();
    await page.getByRole('status').filter({ hasText: /^Paused at / }).waitFor();
    letGo();

    // The page remembers the open upload (to continue it after a reload); its URL gives the server's offset.
    const open = JSON.parse(await page.evaluate<string>("localStorage.getItem('framelog.openUploads')")) as Record<string, { videoId: string; uploadUrl: string }>;
    const [{ videoId, uploadUrl }] = Object.values(open) as [{ videoId: string; uploadUrl: string }];
    const offsetOf = async () => Number((await fetch(uploadUrl, { method: 'HEAD', headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' } })).headers.get('upload-offset'));
    const readings: number[] = [];
    await waitFor(async () => (readings.push(await offsetOf()), readings.length >= 5), { intervalMs: 200, message: 'five readings of the offset' });
    expect(new Set(readings).size).toBe(1);
    expect(readings[0]).toBeGreaterThan(0);
    expect(readings[0]).toBeLessThan(sizeBytes);
    expect(patches).toBe(3);
    await screenshot(page, '5-upload-paused');

    // Focus moved to Resume when paused. Then a reload in the middle of the upload (a PATCH held again).
    holdAt = patches + 3;
    held = false;
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Pause' }).waitFor();
    await waitFor(() => held, { timeoutMs: 30_000, message: 'the sixth chunk to be sent' });
    await page.reload();
    letGo();
    // Choosing the same file again continues its upload: no second createUpload, no second video.
    await page.getByLabel('Video file (or drop one here)').setInputFiles(clip);
    await page.getByRole('button', { name: 'Upload' }).click();
    const row = page.locator(`tbody tr[data-id="${videoId}"]`);
    await row.locator('[data-status="PROCESSED"]').waitFor({ timeout: 180_000 });
    expect(await page.locator('tbody tr', { hasText: 'paused-clip.mp4' }).count()).toBe(0);
    expect(await page.evaluate("localStorage.getItem('framelog.openUploads')")).toBe('{}');
    const { data } = await gql<{ video: { history: { type: string }[] } }>(stack.apiUrl, 'query($id: ID!) { video(id: $id) { history { type } } }', { id: videoId }, { authorization: `Bearer ${token}` });
    const types = data!.video.history.map((e) => e.type);
    expect(types.filter((t) => t === 'UploadStarted')).toHaveLength(1);
    expect(types.filter((t) => t === 'VideoUploaded')).toHaveLength(1);
  });

  it('shows a failed upload with its error code, filters by status, and retries it', async () => {
    const token = await tokenFor('uma', 'uploader');
    const page = await signedIn(token);
    const bogus = path.join(clips, 'not-a-video.mp4');
    await writeFile(bogus, 'this is not a video\n'.repeat(100));
    await page.getByLabel('Video file (or drop one here)').setInputFiles(bogus);
    await page.getByRole('button', { name: 'Upload' }).click();
    const row = page.locator('tbody tr', { hasText: 'not-a-video.mp4' });
    await row.locator('[data-status="FAILED"]').waitFor({ timeout: 120_000 });
    await row.getByText('NOT_A_VIDEO').waitFor();

    await page.getByLabel('Status').selectOption('FAILED');
    await page.waitForFunction("[...document.querySelectorAll('tbody .status-cell')].map((c) => c.dataset.status).join() === 'FAILED'");
    await page.getByLabel('Status').selectOption('PROCESSED');
    await page.waitForFunction("![...document.querySelectorAll('tbody .status-cell')].some((c) => c.dataset.status !== 'PROCESSED')");
    await page.getByLabel('Status').selectOption('');
    await screenshot(page, '6-list-failed');

    const id = await row.getAttribute('data-id');
    const versionOf = async () => (await gql<{ video: { version: number } }>(stack.apiUrl, 'query($id: ID!) { video(id: $id) { version } }', { id }, { authorization: `Bearer ${token}` })).data!.video.version;
    const before = await versionOf();
    await row.getByRole('button', { name: 'Retry' }).click();
    await waitFor(async () => (await versionOf()) > before, { timeoutMs: 30_000, message: 'the retried video to record an event' });
  });

  it('offers a viewer no upload control, and fits a narrow window', async () => {
    const page = await signedIn(await tokenFor('victor', 'viewer'), { width: 360, height: 740 });
    await page.getByRole('heading', { name: 'Videos' }).waitFor();
    await page.getByText('victor (viewer)').waitFor();
    expect(await page.getByLabel('Video file (or drop one here)').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Upload' }).count()).toBe(0);
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    await screenshot(page, '7-viewer-narrow');
  });

  it('tells a user whose token is unknown or revoked, and asks for another', async () => {
    const unknown = await signedIn('not-a-token');
    await unknown.getByRole('alert').filter({ hasText: 'Your token was refused' }).waitFor();
    await screenshot(unknown, '8-token-unknown');

    const page = await signedIn(await tokenFor('rita', 'uploader'));
    await page.getByRole('heading', { name: 'Videos' }).waitFor();
    // Revoked while no page of it is open (an open one learns it from its socket first, below): the
    // kept token is tried again on the next visit, and refused.
    await page.goto('about:blank');
    await revokeToken(stack.database.db, 'rita');
    await page.goto(`${stack.apiUrl}/`);
    await page.getByRole('alert').filter({ hasText: /refused: it is unknown, revoked or expired/ }).waitFor();
    await page.getByLabel('API token').waitFor();
    expect(await page.evaluate("localStorage.getItem('framelog.token')")).toBeNull();
    await screenshot(page, '9-token-revoked');

    // A page left open is told within the socket's next token check, without a reload.
    const open = await signedIn(await tokenFor('rosa', 'uploader'));
    await open.getByRole('heading', { name: 'Videos' }).waitFor();
    await revokeToken(stack.database.db, 'rosa');
    await open.getByRole('alert').filter({ hasText: /refused: it is unknown, revoked or expired/ }).waitFor();
    await open.getByLabel('API token').waitFor();
    expect(await open.evaluate("localStorage.getItem('framelog.token')")).toBeNull();
  });
});
