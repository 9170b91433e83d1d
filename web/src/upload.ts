import type { RunningUpload } from './api.js';
import { formatBytes, h } from './dom.js';
import { UPLOAD, type VideoSummary } from './queries.js';
import { messageOf, type Session } from './session.js';

/**
 * The upload form: choose or drop a file, an optional title, then a progress bar with bytes and speed
 * while it goes up (XHR upload progress), and a cancel button. `uploaded` gets the new video.
 */
export function renderUpload(session: Session, uploaded: (video: VideoSummary) => void): HTMLElement {
  const file = h('input', { id: 'upload-file', name: 'file', type: 'file', accept: 'video/*', required: true });
  const title = h('input', { id: 'upload-title', name: 'title', type: 'text', maxlength: 200 });
  const submit = h('button', { type: 'submit' }, 'Upload');
  const cancel = h('button', { type: 'button', hidden: true }, 'Cancel');
  const bar = h('progress', { id: 'upload-progress', max: 100, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'card upload', 'aria-labelledby': 'upload-heading' },
    h('h2', { id: 'upload-heading' }, 'Upload a video'),
    h('label', { for: 'upload-file' }, 'Video file (or drop one here)'),
    file,
    h('label', { for: 'upload-title' }, 'Title (optional)'),
    title,
    h('div', { class: 'row' }, submit, cancel),
    bar,
    status,
  );
  let running: RunningUpload<{ uploadVideo: VideoSummary }> | null = null;

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
  cancel.addEventListener('click', () => running?.abort());
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen || running) return;
    const started = performance.now();
    bar.hidden = false;
    cancel.hidden = false;
    submit.disabled = true;
    running = session.api.upload<{ uploadVideo: VideoSummary }>(UPLOAD, chosen, title.value.trim() || null, ({ loadedBytes, totalBytes }) => {
      const seconds = (performance.now() - started) / 1000;
      bar.value = totalBytes > 0 ? (100 * loadedBytes) / totalBytes : 0;
      status.textContent = `${formatBytes(loadedBytes)} of ${formatBytes(totalBytes)}, ${formatBytes(seconds > 0 ? loadedBytes / seconds : 0)}/s`;
    });
    running.done
      .then(({ uploadVideo }) => {
        status.textContent = `Uploaded "${uploadVideo.title ?? uploadVideo.originalFilename}": it is ${uploadVideo.status}.`;
        form.reset();
        uploaded(uploadVideo);
      })
      .catch((error: unknown) => {
        status.textContent = `Upload failed: ${messageOf(error)}`;
      })
      .finally(() => {
        running = null;
        bar.hidden = true;
        cancel.hidden = true;
        submit.disabled = false;
      });
  });
  return form;
}
