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
  const list = new VideoList(session);
  const stop = session.api.subscribe<{ videoUpdated: VideoSummary }>(UPDATES, {}, ({ videoUpdated }) => list.showChanged(videoUpdated));
  list.reload();
  const element = h(
    'section',
    { 'aria-labelledby': 'videos-heading' },
    canWrite(session.me) ? renderUpload(session, (video) => list.showChanged(video)) : null,
    h('h1', { id: 'videos-heading' }, 'Videos'),
    h('div', { class: 'row' }, h('label', { for: 'filter' }, 'Status'), list.filter),
    videosTable(list.body),
    list.empty,
    list.more,
    list.status,
  );
  return { element, leave: stop };
}

/** The list's rows and controls, and what changes them: pages loaded, filter changes, updates, retries. */
class VideoList {
  private readonly rows = new Map<string, HTMLTableRowElement>();
  readonly body = h('tbody');
  readonly more = h('button', { type: 'button', hidden: true }, 'Load more');
  readonly status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  readonly empty = h('p', { class: 'status', hidden: true }, 'No videos yet.');
  readonly filter = h('select', { id: 'filter', name: 'status' }, h('option', { value: '' }, 'All'), ...STATUSES.map((s) => h('option', { value: s }, s)));
  private after: string | null = null;

  constructor(private readonly session: Session) {
    this.filter.addEventListener('change', () => this.reload());
    this.more.addEventListener('click', () => void this.loadPage());
  }

  /** Starts over from the first page (of the status filtered on). */
  reload(): void {
    this.rows.clear();
    this.body.replaceChildren();
    this.after = null;
    void this.loadPage();
  }

  /** A video that changed: replaced where it is, or, not on the page yet, new (the list is newest first): on top. */
  showChanged(video: VideoSummary): void {
    this.show(video, this.rows.has(video.id) ? 'replace' : 'prepend');
  }

  private filtered(): VideoStatus | null {
    return this.filter.value === '' ? null : (this.filter.value as VideoStatus);
  }

  private show(video: VideoSummary, where: 'append' | 'prepend' | 'replace'): void {
    const current = this.rows.get(video.id);
    if (where === 'replace' && !current) return;
    const filter = this.filtered();
    if (filter !== null && video.status !== filter && where !== 'replace') return;
    const retry = canWrite(this.session.me) && video.status === 'FAILED' ? () => this.retry(video.id) : null;
    const row = videoRow(video, retry);
    this.rows.set(video.id, row);
    if (current) current.replaceWith(row);
    else if (where === 'prepend') this.body.prepend(row);
    else this.body.append(row);
    this.empty.hidden = true;
  }

  private retry(id: string): void {
    this.session.api.request<{ retryVideo: VideoSummary }>(RETRY, { id }).then(
      ({ retryVideo }) => this.show(retryVideo, 'replace'),
      (error: unknown) => (this.status.textContent = `Retry failed: ${messageOf(error)}`),
    );
  }

  private async loadPage(): Promise<void> {
    this.more.disabled = true;
    try {
      const { videos } = await this.session.api.request<{ videos: Page }>(VIDEOS, { status: this.filtered(), first: PAGE_SIZE, after: this.after });
      for (const edge of videos.edges) this.show(edge.node, 'append');
      this.after = videos.pageInfo.endCursor;
      this.more.hidden = !videos.pageInfo.hasNextPage;
      this.empty.hidden = this.rows.size > 0;
    } catch (error) {
      this.status.textContent = `Could not load the videos: ${messageOf(error)}`;
    } finally {
      this.more.disabled = false;
    }
  }
}

/** One video's row: title (a link to its page), status, size, upload time and, when given, Retry. */
function videoRow(video: VideoSummary, retry: (() => void) | null): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-id': video.id },
    h('td', {}, h('a', { href: `#/videos/${encodeURIComponent(video.id)}` }, video.title ?? video.originalFilename)),
    h('td', {}, statusCell(video)),
    h('td', {}, formatBytes(video.sizeBytes)),
    h('td', {}, formatTime(video.uploadedAt)),
    h('td', {}, retry ? button('Retry', retry) : null),
  );
}

function videosTable(body: HTMLTableSectionElement): HTMLElement {
  return h(
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
}
