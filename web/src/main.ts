import { Api, ApiError } from './api.js';
import { button, h } from './dom.js';
import { renderList } from './list.js';
import { ME, type Me } from './queries.js';
import { messageOf, type Session } from './session.js';
import { renderVideo } from './video.js';

const TOKEN_KEY = 'framelog.token';
const app = document.querySelector<HTMLElement>('#app')!;
const who = document.querySelector<HTMLElement>('#who')!;
const notice = document.querySelector<HTMLElement>('#notice')!;
let session: Session | null = null;
/** Ends the current view's subscriptions and timers. */
let leaveView: () => void = () => undefined;

function showNotice(message: string | null): void {
  notice.hidden = message === null;
  notice.textContent = message ?? '';
}

/** What the user reads when the API refuses their token. */
function refusalMessage(): string {
  return 'Your token was refused: it is unknown, revoked or expired. Enter a valid token; an administrator makes one with "npm run token -- create".';
}

function signOut(message: string | null): void {
  leaveView();
  session?.api.close();
  session = null;
  localStorage.removeItem(TOKEN_KEY);
  who.replaceChildren();
  showNotice(message);
  renderTokenForm();
}

async function signIn(token: string): Promise<void> {
  const api = new Api(token);
  const { me } = await api.request<{ me: Me }>(ME);
  localStorage.setItem(TOKEN_KEY, token);
  // Once per session: a refused request and the socket's close may both report the same refusal.
  api.onUnauthenticated = () => {
    if (session?.api === api) signOut(refusalMessage());
  };
  session = { api, me };
  who.replaceChildren(`${me.name} (${me.role}) `, button('Change token', () => signOut(null)));
  showNotice(null);
  route();
}

function renderTokenForm(): void {
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', 'aria-describedby': 'token-help' });
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'token-title' },
    h('h1', { id: 'token-title' }, 'Sign in'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('p', { id: 'token-help', class: 'hint' }, 'The token is kept in this browser only. An administrator makes one with "npm run token -- create --name NAME --role uploader"; leave it empty while the API has no tokens yet (development).'),
    h('button', { type: 'submit' }, 'Use token'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    signIn(input.value.trim()).catch((error: unknown) => {
      showNotice(error instanceof ApiError && error.code === 'UNAUTHENTICATED' ? refusalMessage() : messageOf(error));
      input.focus();
    });
  });
  app.replaceChildren(form);
  input.focus();
}

/** `#/` is the list, `#/videos/<id>` one video. */
function route(): void {
  if (!session) return;
  leaveView();
  const match = /^#\/videos\/([^/]+)$/.exec(location.hash);
  const view = match ? renderVideo(session, decodeURIComponent(match[1]!)) : renderList(session);
  app.replaceChildren(view.element);
  leaveView = view.leave;
  app.focus();
}

window.addEventListener('hashchange', route);
const saved = localStorage.getItem(TOKEN_KEY);
if (saved !== null) {
  signIn(saved).catch((error: unknown) => {
    if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') signOut(refusalMessage());
    else {
      showNotice(messageOf(error));
      renderTokenForm();
    }
  });
} else renderTokenForm();
