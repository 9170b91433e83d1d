import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Real players in a real browser: Debian's chromium-headless-shell (ops/bootstrap.sh installs it; the
 * browser Playwright would download cannot play H.264, and nothing is downloaded at run time) driven by
 * playwright-core, with hls.js and dash.js from node_modules served by a tiny page server on localhost.
 * The media comes from wherever the URL points (the API's /media), so CORS is exercised too.
 */

export const CHROMIUM_PATH = '/usr/bin/chromium-headless-shell';

const require = createRequire(import.meta.url);
const SCRIPTS: Record<string, string> = {
  '/hls.js': require.resolve('hls.js/dist/hls.min.js'),
  // The package's `require` export is its UMD build, the one a <script> tag can load.
  '/dash.js': require.resolve('dashjs'),
};

/** What a player saw while playing a stream (page script below). */
export interface PlayReport {
  /** Variants the player parsed (hls.js levels, dash.js video representations). */
  levels: number;
  currentTime: number;
  /** `waiting` events after playback first started: a stall. */
  stalls: number;
  errors: string[];
  /** hls.js only: the levels it switched to, in order. */
  switchedTo: number[];
}

// Runs in the page. Plays `url` muted until currentTime passes `untilSeconds`; with `switchTo`, asks hls.js
// for that level once playing (nextLevel: at the next segment, without flushing the buffer).
const PAGE_SCRIPT = `
const until = (check, ms, what) => new Promise((resolve, reject) => {
  const started = Date.now();
  const tick = () => { const v = check(); if (v) return resolve(v); if (Date.now() - started > ms) return reject(new Error('timed out waiting for ' + what)); setTimeout(tick, 50); };
  tick();
});
function watch(video, report) {
  let playing = false;
  video.addEventListener('playing', () => { playing = true; });
  video.addEventListener('waiting', () => { if (playing) report.stalls += 1; });
  video.addEventListener('error', () => report.errors.push('video:' + (video.error && video.error.message)));
}
window.playHls = async (url, untilSeconds, switchTo) => {
  const video = document.createElement('video'); video.muted = true; document.body.append(video);
  const report = { levels: 0, currentTime: 0, stalls: 0, errors: [], switchedTo: [] };
  watch(video, report);
  const hls = new Hls({ capLevelToPlayerSize: false, startLevel: 0 });
  hls.on(Hls.Events.ERROR, (_e, d) => report.errors.push(d.details + (d.fatal ? ':fatal' : '')));
  hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => report.switchedTo.push(d.level));
  hls.loadSource(url); hls.attachMedia(video);
  await until(() => hls.levels.length > 0 || report.errors.some((e) => e.endsWith(':fatal')), 20000, 'the manifest');
  report.levels = hls.levels.length;
  await video.play();
  if (switchTo !== null) {
    await until(() => video.currentTime > 0.5, 20000, 'playback to start');
    hls.nextLevel = switchTo;
  }
  // With a switch asked for, play on until it happened too (or the video ended without it): on a loaded
  // machine the switched fragment can land after untilSeconds, which is not a failure to switch.
  const switched = () => switchTo === null || report.switchedTo.includes(switchTo);
  await until(() => (video.currentTime > untilSeconds && switched()) || video.ended || report.errors.some((e) => e.endsWith(':fatal')), 40000, 'currentTime > ' + untilSeconds);
  report.currentTime = video.currentTime;
  hls.destroy(); video.remove();
  return report;
};
window.playDash = async (url, untilSeconds) => {
  const video = document.createElement('video'); video.muted = true; document.body.append(video);
  const report = { levels: 0, currentTime: 0, stalls: 0, errors: [], switchedTo: [] };
  watch(video, report);
  const player = dashjs.MediaPlayer().create();
  player.on('error', (e) => report.errors.push('dash:' + JSON.stringify(e.error && (e.error.message || e.error.code))));
  player.initialize(video, url, true);
  await until(() => player.isReady() && player.getRepresentationsByType && player.getRepresentationsByType('video').length > 0, 20000, 'the MPD');
  report.levels = player.getRepresentationsByType('video').length;
  await until(() => video.currentTime > untilSeconds || report.errors.length > 0, 40000, 'currentTime > ' + untilSeconds);
  report.currentTime = video.currentTime;
  player.destroy(); video.remove();
  return report;
};
`;

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>framelog players</title>
<script src="/hls.js"></script><script src="/dash.js"></script><script>${PAGE_SCRIPT}</script></head><body></body></html>`;

/** Serves the player page and the two libraries on 127.0.0.1 (port 0). */
async function startPageServer(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const script = SCRIPTS[req.url ?? ''];
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    } else if (script !== undefined) {
      readFile(script).then(
        (body) => res.writeHead(200, { 'content-type': 'text/javascript' }).end(body),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

/** A headless Chromium with the player page open; `close()` ends both. */
export class PlayerPage {
  private constructor(
    private readonly browser: Browser,
    private readonly server: Server,
    readonly page: Page,
  ) {}

  static async open(): Promise<PlayerPage> {
    const { server, url } = await startPageServer();
    const browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--no-first-run', '--autoplay-policy=no-user-gesture-required',
      ],
    });
    const page = await browser.newPage();
    await page.goto(url);
    return new PlayerPage(browser, server, page);
  }

  /** Plays `url` with hls.js past `untilSeconds`; with `switchTo`, forces that level once playing. */
  playHls(url: string, untilSeconds: number, switchTo: number | null = null): Promise<PlayReport> {
    return this.page.evaluate(([u, t, s]) => (globalThis as unknown as PlayerWindow).playHls(u, t, s), [url, untilSeconds, switchTo] as const);
  }

  /** Plays `url` with dash.js past `untilSeconds`. */
  playDash(url: string, untilSeconds: number): Promise<PlayReport> {
    return this.page.evaluate(([u, t]) => (globalThis as unknown as PlayerWindow).playDash(u, t), [url, untilSeconds] as const);
  }

  async close(): Promise<void> {
    await this.browser.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface PlayerWindow {
  playHls(url: string, untilSeconds: number, switchTo: number | null): Promise<PlayReport>;
  playDash(url: string, untilSeconds: number): Promise<PlayReport>;
}
