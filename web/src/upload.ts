import { formatBytes, h } from './dom.js';
import { CREATE_UPLOAD, VIDEO_SUMMARY, type VideoSummary } from './queries.js';
import { openUploadOf, rememberUpload, tusUpload, type OpenUpload, type TusUpload } from './resumable.js';
import { messageOf, type Session } from './session.js';

interface CreatedUpload {
  createUpload: { uploadUrl: string; expiresAt: string; video: VideoSummary };
}

/** The form's controls: file and title, then Upload, Pause, Resume and Cancel, a progress bar and a status line. */
function uploadControls() {
  return {
    file: h('input', { id: 'upload-file', name: 'file', type: 'file', accept: 'video/*', required: true }),
    title: h('input', { id: 'upload-title', name: 'title', type: 'text', maxlength: 200 }),
    submit: h('button', { type: 'submit' }, 'Upload'),
    pause: h('button', { type: 'button', hidden: true }, 'Pause'),
    resume: h('button', { type: 'button', hidden: true }, 'Resume'),
    cancel: h('button', { type: 'button', hidden: true }, 'Cancel'),
    bar: h('progress', { id: 'upload-progress', max: 100, value: 0, hidden: true, 'aria-label': 'Upload progress' }),
    status: h('p', { class: 'status', role: 'status', 'aria-live': 'polite' }),
  };
}
type Controls = ReturnType<typeof uploadControls>;

/** The upload of `file` from an earlier visit if the API still has it open, else a new one from createUpload. */
async function openUpload(session: Session, file: File, title: string | null, uploaded: (video: VideoSummary) => void): Promise<OpenUpload & { resumed: boolean }> {
  const earlier = openUploadOf(file);
  if (earlier) return { ...earlier, resumed: true };
  const { createUpload } = await session.api.request<CreatedUpload>(CREATE_UPLOAD, { filename: file.name, sizeBytes: file.size, title });
  const opened = { videoId: createUpload.video.id, uploadUrl: createUpload.uploadUrl };
  rememberUpload(file, opened);
  uploaded(createUpload.video);
  return { ...opened, resumed: false };
}

/** Shows the buttons of a state: idle (Upload), sending (Pause, Cancel) or paused (Resume, Cancel). */
function showState(c: Controls, state: 'idle' | 'sending' | 'paused'): void {
  c.submit.disabled = state !== 'idle';
  c.pause.hidden = state !== 'sending';
  c.resume.hidden = state !== 'paused';
  c.cancel.hidden = state === 'idle';
  c.bar.hidden = state === 'idle';
}

/** Paused: Resume, and how far the upload got. */
function showPaused(c: Controls): void {
  showState(c, 'paused');
  c.status.textContent = `Paused at ${formatBytes(Number(c.bar.dataset.sentBytes ?? 0))} of ${formatBytes(c.file.files?.[0]?.size ?? 0)}.`;
  c.resume.focus();
}

/** Progress text: bytes sent, and the speed since the last start (a resume starts a new measure). */
function progressMeter(c: Controls): { restart(): void; update(sent: number, total: number): void } {
  let base: { bytes: number; at: number } | null = null;
  return {
    restart: () => (base = null),
    update: (sent, total) => {
      base ??= { bytes: sent, at: performance.now() };
      const seconds = (performance.now() - base.at) / 1000;
      c.bar.value = total > 0 ? (100 * sent) / total : 0;
      c.bar.dataset.sentBytes = String(sent);
      c.status.textContent = `${formatBytes(sent)} of ${formatBytes(total)}, ${formatBytes(seconds > 0 ? (sent - base.bytes) / seconds : 0)}/s`;
    },
  };
}

/** After the last byte: the video as the API now has it goes to `uploaded` (if it can be read), and `done` gets the line to show. */
function reportUploaded(session: Session, videoId: string, uploaded: (video: VideoSummary) => void, done: (message: string) => void): void {
  void session.api.request<{ video: VideoSummary }>(VIDEO_SUMMARY, { id: videoId }).then(
    ({ video }) => {
      uploaded(video);
      done(`Uploaded "${video.title ?? video.originalFilename}": it is ${video.status}.`);
    },
    (error: unknown) => done(`Uploaded; its status could not be read: ${messageOf(error)}`),
  );
}

function uploadForm(c: Controls): HTMLFormElement {
  return h(
    'form',
    { class: 'card upload', 'aria-labelledby': 'upload-heading' },
    h('h2', { id: 'upload-heading' }, 'Upload a video'),
    h('label', { for: 'upload-file' }, 'Video file (or drop one here)'),
    c.file,
    h('label', { for: 'upload-title' }, 'Title (optional)'),
    c.title,
    h('div', { class: 'row' }, c.submit, c.pause, c.resume, c.cancel),
    c.bar,
    c.status,
  );
}

/**
 * The upload form: choose or drop a file and an optional title; the bytes go resumably over tus
 * (createUpload, then tus-js-client) with a progress bar, bytes and speed, Pause, Resume and Cancel.
 * Choosing the same file again after a reload continues its upload. `uploaded` gets the new video.
 */
export function renderUpload(session: Session, uploaded: (video: VideoSummary) => void): HTMLElement {
  const c = uploadControls();
  const form = uploadForm(c);
  acceptDrops(form, c.file);
  let running: TusUpload | null = null;
  const meter = progressMeter(c);
  const finish = (message: string): void => {
    running = null;
    c.status.textContent = message;
    showState(c, 'idle');
  };
  c.pause.addEventListener('click', () => void running?.pause().then(() => showPaused(c)));
  c.resume.addEventListener('click', () => {
    meter.restart();
    showState(c, 'sending');
    c.pause.focus();
    running?.start();
  });
  c.cancel.addEventListener('click', () => {
    const file = c.file.files?.[0];
    void running?.cancel().then(() => {
      if (file) rememberUpload(file, undefined);
      finish('The upload was cancelled.');
    });
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = c.file.files?.[0];
    if (!chosen || running) return;
    showState(c, 'sending');
    meter.restart();
    openUpload(session, chosen, c.title.value.trim() || null, uploaded).then(
      (opened) => {
        if (opened.resumed) c.status.textContent = 'Continuing the earlier upload of this file…';
        running = tusUpload(chosen, opened.uploadUrl, session.api.authHeaders, {
          onProgress: (sent, total) => meter.update(sent, total),
          onSuccess: () => {
            rememberUpload(chosen, undefined);
            const shown = (video: VideoSummary): void => {
              uploaded(video);
              form.reset();
            };
            reportUploaded(session, opened.videoId, shown, finish);
          },
          onError: (error) => {
            // A refusal (expired, cancelled, another token…) ends this upload: the next try opens a new one.
            if (error.code !== 'NETWORK') rememberUpload(chosen, undefined);
            finish(`Upload failed: ${error.message}`);
            if (error.code === 'UNAUTHENTICATED') session.api.onUnauthenticated(error);
          },
        });
        running.start();
      },
      (error: unknown) => finish(`Upload failed: ${messageOf(error)}`),
    );
  });
  return form;
}

/** Dropping a file on the form chooses it. */
function acceptDrops(form: HTMLFormElement, file: HTMLInputElement): void {
  form.addEventListener('dragover', (event) => {
    event.preventDefault();
    form.classList.add('dropping');
  });
  form.addEventListener('dragleave', () => form.classList.remove('dropping'));
  form.addEventListener('drop', (event) => {
    event.preventDefault();
    form.classList.remove('dropping');
    if (event.dataTransfer?.files.length) file.files = event.dataTransfer.files;
  });
}
