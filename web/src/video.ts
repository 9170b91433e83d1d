import { ApiError } from './api.js';
import { fill, formatBytes, formatTime, h } from './dom.js';
import { statusCell } from './list.js';
import { AUDIT, UPDATES, VIDEO, VIDEO_WITHOUT_STREAMING, type AuditReport, type VideoDetail, type VideoSummary } from './queries.js';
import { messageOf, type Session, type View } from './session.js';

/** The video, asking without `streaming` when the API's schema has no such field. */
async function loadVideo(session: Session, id: string): Promise<VideoDetail | null> {
  try {
    return (await session.api.request<{ video: VideoDetail | null }>(VIDEO, { id })).video;
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 'GRAPHQL_VALIDATION_FAILED')) throw error;
    return (await session.api.request<{ video: VideoDetail | null }>(VIDEO_WITHOUT_STREAMING, { id })).video;
  }
}

/**
 * hls.js on the HLS playlist when there is one (loaded only then: it is most of the page's code; native
 * HLS where MSE is missing), else the first MP4 rendition (the largest).
 */
function renderPlayer(video: VideoDetail): { element: HTMLElement; destroy(): void } {
  const player = h('video', { id: 'player', controls: true, preload: 'metadata', playsinline: true, poster: video.posterUrl, 'aria-label': `Player: ${video.title ?? video.originalFilename}` });
  let destroyed = false;
  let destroyHls = (): void => undefined;
  const hlsUrl = video.streaming?.hlsUrl;
  const mp4 = video.renditions[0]?.url;
  if (hlsUrl) {
    void import('hls.js').then(({ default: Hls }) => {
      if (destroyed) return;
      if (!Hls.isSupported()) {
        const native = player.canPlayType('application/vnd.apple.mpegurl') !== '';
        player.dataset.source = native ? 'native-hls' : 'mp4';
        player.src = native ? hlsUrl : (mp4 ?? '');
        return;
      }
      const hls = new Hls();
      player.dataset.source = 'hls';
      hls.loadSource(hlsUrl);
      hls.attachMedia(player);
      destroyHls = () => hls.destroy();
    });
  } else if (mp4) {
    player.dataset.source = 'mp4';
    player.src = mp4;
  }
  const destroy = (): void => {
    destroyed = true;
    destroyHls();
  };
  return { element: h('figure', { class: 'player' }, player), destroy };
}

function renderFacts(video: VideoDetail): HTMLElement {
  const facts: [string, string][] = [
    ['File', `${video.originalFilename} (${formatBytes(video.sizeBytes)})`],
    ['Uploaded', formatTime(video.uploadedAt)],
    ['sha256', video.sha256],
  ];
  const m = video.media;
  if (m) {
    facts.push(['Length', `${m.durationSeconds.toFixed(1)} s`], ['Picture', `${m.width}×${m.height}${m.frameRate ? `, ${m.frameRate.toFixed(2)} fps` : ''}${m.rotation ? `, rotated ${m.rotation}°` : ''}`]);
    facts.push(['Codecs', `${m.videoCodec}${m.audioCodec ? ` / ${m.audioCodec}` : ', no audio'}`]);
  }
  if (video.lastError) facts.push(['Last error', `${video.lastError.code}: ${video.lastError.message} (attempt ${video.lastError.attempt})`]);
  return h('dl', { class: 'facts' }, ...facts.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

function renderRenditions(video: VideoDetail): HTMLElement | null {
  if (video.renditions.length === 0) return null;
  return h(
    'section',
    { 'aria-labelledby': 'renditions-heading' },
    h('h2', { id: 'renditions-heading' }, 'Renditions (MP4 downloads)'),
    h('ul', {}, ...video.renditions.map((r) => h('li', {}, h('a', { href: r.url, download: true }, `${r.label}: ${r.width}×${r.height}, ${formatBytes(r.sizeBytes)}`)))),
  );
}

function renderHistory(video: VideoDetail): HTMLElement {
  const cell = (value: unknown) => h('td', {}, typeof value === 'string' ? value : '');
  return h(
    'details',
    { id: 'history', class: 'history' },
    h('summary', {}, `Event history (${video.history.length} events)`),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        {},
        h('thead', {}, h('tr', {}, ...['#', 'Event', 'Time', 'Actor', 'Correlation id', 'Hash'].map((label) => h('th', { scope: 'col' }, label)))),
        h(
          'tbody',
          {},
          ...video.history.map((e) =>
            h('tr', {}, h('td', {}, e.version), h('td', { class: 'event-type' }, e.type), h('td', {}, formatTime(e.recordedAt)), cell(e.metadata.actor), cell(e.metadata.correlationId), h('td', {}, h('code', { title: e.hash }, e.hash.slice(0, 12)))),
          ),
        ),
      ),
    ),
  );
}

/** Admins only: the audit of this video's stream (hash chain and projection against a fresh fold). */
function renderAudit(session: Session, id: string): HTMLElement {
  const result = h('p', { role: 'status', 'aria-live': 'polite' });
  const run = h('button', { type: 'button' }, 'Audit this stream');
  run.addEventListener('click', () => {
    result.textContent = 'Auditing…';
    session.api.request<{ audit: AuditReport }>(AUDIT, { id }).then(
      ({ audit }) => {
        const summary = `${audit.ok ? 'OK' : 'Mismatches found'}: ${audit.eventsChecked} events checked.`;
        result.replaceChildren(summary, ...audit.mismatches.map((m) => h('div', {}, `${m.kind} at ${m.position ?? '-'}: ${m.detail}`)));
      },
      (error: unknown) => (result.textContent = `Audit failed: ${messageOf(error)}`),
    );
  });
  return h('section', { 'aria-labelledby': 'audit-heading' }, h('h2', { id: 'audit-heading' }, 'Audit'), run, result);
}

/**
 * One video: player, poster, renditions, media facts and event history, redrawn when its
 * `videoUpdated` says its version changed (the player is kept unless the sources appear).
 */
export function renderVideo(session: Session, id: string): View {
  const element = h('article', { class: 'video' }, h('p', {}, 'Loading…'));
  const status = h('span', { id: 'video-status' });
  let player: { element: HTMLElement; destroy(): void } | null = null;
  let shown: VideoDetail | null = null;

  const draw = (video: VideoDetail): void => {
    const playable = Boolean(video.streaming?.hlsUrl ?? video.renditions[0]);
    if (!player || (playable && !shown?.renditions.length)) {
      player?.destroy();
      player = playable ? renderPlayer(video) : null;
    }
    shown = video;
    status.replaceChildren(statusCell(video));
    fill(
      element,
      h('p', {}, h('a', { href: '#/' }, '← All videos')),
      h('h1', {}, video.title ?? video.originalFilename),
      h('p', {}, 'Status: ', status),
      player?.element ?? (video.posterUrl ? h('img', { src: video.posterUrl, alt: 'Poster frame', class: 'poster' }) : null),
      renderFacts(video),
      renderRenditions(video),
      renderHistory(video),
      session.me.role === 'admin' ? renderAudit(session, id) : null,
    );
  };
  const refresh = (): void => {
    loadVideo(session, id).then(
      (video) => (video ? draw(video) : element.replaceChildren(h('p', {}, 'No such video. '), h('a', { href: '#/' }, 'All videos'))),
      (error: unknown) => element.replaceChildren(h('p', { role: 'alert' }, `Could not load the video: ${messageOf(error)}`)),
    );
  };
  const stop = session.api.subscribe<{ videoUpdated: VideoSummary }>(UPDATES, { id }, ({ videoUpdated }) => {
    if (!shown) return;
    // Progress alone changes no event: only the status line moves.
    if (videoUpdated.version === shown.version) status.replaceChildren(statusCell(videoUpdated));
    else refresh();
  });
  refresh();
  return {
    element,
    leave: () => {
      stop();
      player?.destroy();
    },
  };
}
