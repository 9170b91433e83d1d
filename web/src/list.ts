import { button, formatBytes, formatTime, h } from './dom.js';
import { canWrite, RETRY, STATUSES, UPDATES, VIDEOS, type Page, type VideoStatus, type VideoSummary } from './queries.js';
import { messageOf, type Session, type View } from './session.js';
import { renderUpload } from './upload.js';

const PAGE_SIZE = 20;

/** Status text with transcoding progress, attempts and the last error's code. */
export function statusCell(video: VideoSummary): HTMLElement {
  const cell = h('span', { class: `badge ${video.status.toLowerCase()}` }, video.status);
  const parts: (Node | string)[] = [cell];
  if (video.progress !== null && video.status === 'PROCESSING') {
    parts.push(' ', h('progress', { max: 100, value: video.progress, 'aria-label': 'Transcoding progress' }), ` ${Math.round(video.progress)} %`);
  }
  if (video.attempts > 1) parts.push(` attempt ${video.attempts}`);
  if (video.lastError) parts.push(' ', h('code', { title: video.lastError.message }, video.lastError.code));
  return h('span', { class: 'status-cell', 'data-status': video.status }, ...parts);
}

/**
 * The videos, newest first: filter by status, a page at a time (Relay cursor), kept live by the
 * `videoUpdated` subscription, with retry for failed videos and the upload form for those who may.
 */
export function renderList(session: Session): View {
  const rows = new Map<string, HTMLTableRowElement>();
  const body = h('tbody');
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const empty = h('p', { class: 'status', hidden: true }, 'No videos yet.');
  const filter = h('select', { id: 'filter', name: 'status' }, h('option', { value: '' }, 'All'), ...STATUSES.map((s) => h('option', { value: s }, s)));
  let after: string | null = null;
  const filtered = (): VideoStatus | null => (filter.value === '' ? null : (filter.value as VideoStatus));

  const rowOf = (video: VideoSummary): HTMLTableRowElement => {
    const retry =
      canWrite(session.me) && video.status === 'FAILED'
        ? button('Retry', () => retryVideo(video.id))
        : null;
    return h(
      'tr',
      { 'data-id': video.id },
      h('td', {}, h('a', { href: `#/videos/${encodeURIComponent(video.id)}` }, video.title ?? video.originalFilename)),
      h('td', {}, statusCell(video)),
      h('td', {}, formatBytes(video.sizeBytes)),
      h('td', {}, formatTime(video.uploadedAt)),
      h('td', {}, retry),
    );
  };
  const show = (video: VideoSummary, where: 'append' | 'prepend' | 'replace'): void => {
    const current = rows.get(video.id);
    if (where === 'replace' && !current) return;
    const filter = filtered();
    if (filter !== null && video.status !== filter && where !== 'replace') return;
    const row = rowOf(video);
    rows.set(video.id, row);
    if (current) current.replaceWith(row);
    else if (where === 'prepend') body.prepend(row);
    else body.append(row);
    empty.hidden = true;
  };
  const retryVideo = (id: string): void => {
    session.api.request<{ retryVideo: VideoSummary }>(RETRY, { id }).then(
      ({ retryVideo }) => show(retryVideo, 'replace'),
      (error: unknown) => (status.textContent = `Retry failed: ${messageOf(error)}`),
    );
  };
  const loadPage = async (): Promise<void> => {
    more.disabled = true;
    try {
      const { videos } = await session.api.request<{ videos: Page }>(VIDEOS, { status: filtered(), first: PAGE_SIZE, after });
      for (const edge of videos.edges) show(edge.node, 'append');
      after = videos.pageInfo.endCursor;
      more.hidden = !videos.pageInfo.hasNextPage;
      empty.hidden = rows.size > 0;
    } catch (error) {
      status.textContent = `Could not load the videos: ${messageOf(error)}`;
    } finally {
      more.disabled = false;
    }
  };
  const reload = (): void => {
    rows.clear();
    body.replaceChildren();
    after = null;
    void loadPage();
  };
  filter.addEventListener('change', reload);
  more.addEventListener('click', () => void loadPage());

  // A video not on the page yet is new (the list is newest first): it goes on top.
  const stop = session.api.subscribe<{ videoUpdated: VideoSummary }>(UPDATES, {}, ({ videoUpdated }) => show(videoUpdated, rows.has(videoUpdated.id) ? 'replace' : 'prepend'));
  reload();

  const table = h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h('caption', {}, 'Videos, newest first'),
      h('thead', {}, h('tr', {}, ...['Video', 'Status', 'Size', 'Uploaded', 'Actions'].map((label) => h('th', { scope: 'col' }, label)))),
      body,
    ),
  );
  const element = h(
    'section',
    { 'aria-labelledby': 'videos-heading' },
    canWrite(session.me) ? renderUpload(session, (video) => show(video, rows.has(video.id) ? 'replace' : 'prepend')) : null,
    h('h1', { id: 'videos-heading' }, 'Videos'),
    h('div', { class: 'row' }, h('label', { for: 'filter' }, 'Status'), filter),
    table,
    empty,
    more,
    status,
  );
  return { element, leave: stop };
}
