import type { Api } from './api.js';
import type { Me } from './queries.js';

/** What a view gets: the API with the user's token, and who they are. */
export interface Session {
  api: Api;
  me: Me;
}

/** A drawn screen, and how to leave it (its subscriptions end). */
export interface View {
  element: HTMLElement;
  leave: () => void;
}

/** The message of anything thrown, for a status line. */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
