import { createClient, type Client } from 'graphql-ws';

/** A refusal from the API with its stable code (UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, …). */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** The first error of a GraphQL answer as an ApiError, or the data. */
function unwrap<T>(body: GraphQLResponse<T>, httpStatus: number): T {
  const first = body.errors?.[0];
  if (first) throw new ApiError(first.extensions?.code ?? 'INTERNAL', first.message);
  if (body.data == null) throw new ApiError('INTERNAL', `The API answered HTTP ${httpStatus} without data.`);
  return body.data;
}

/**
 * The public GraphQL API at the page's own origin (`/graphql`), with the user's bearer token:
 * queries and mutations over HTTP POST, subscriptions over graphql-ws on the same path.
 */
export class Api {
  private ws: Client | null = null;
  /** Called once for every refusal of the token (HTTP 401 or a closed subscription socket). */
  onUnauthenticated: (error: ApiError) => void = () => undefined;

  constructor(private readonly token: string) {}

  /** No header for an empty token: a development API without tokens lets everyone in, but refuses a wrong one. */
  get authHeaders(): Record<string, string> {
    return this.token === '' ? {} : { authorization: `Bearer ${this.token}` };
  }

  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    let response: Response;
    try {
      response = await fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.authHeaders },
        body: JSON.stringify({ query, variables }),
      });
    } catch {
      throw new ApiError('NETWORK', 'The API cannot be reached; check that it is running.');
    }
    const body = (await response.json().catch(() => ({}))) as GraphQLResponse<T>;
    return this.checked(() => unwrap(body, response.status));
  }

  private checked<T>(read: () => T): T {
    try {
      return read();
    } catch (error) {
      if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') this.onUnauthenticated(error);
      throw error;
    }
  }

  /** Runs a subscription; `next` gets each result's data. Returns the function that ends it. */
  subscribe<T>(query: string, variables: Record<string, unknown>, next: (data: T) => void): () => void {
    this.ws ??= createClient({
      url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
      connectionParams: this.authHeaders,
      lazy: true,
      // 4403: the API refused the token in connection_init.
      on: { closed: (event) => this.closedSocket(event) },
      shouldRetry: (event) => !(event instanceof CloseEvent && event.code === 4403),
    });
    return this.ws.subscribe<T>(
      { query, variables },
      {
        next: (result) => {
          if (result.data) next(result.data);
        },
        // A revoked token ends each subscription with UNAUTHENTICATED before the API closes the socket
        // with 4403; the lazy client may close the emptied socket itself first, so the error must tell.
        error: (error) => this.failedSubscription(error),
        complete: () => undefined,
      },
    );
  }

  private failedSubscription(error: unknown): void {
    const codes = Array.isArray(error) ? error.map((e: { extensions?: { code?: unknown } }) => e.extensions?.code) : [];
    if (codes.includes('UNAUTHENTICATED')) this.onUnauthenticated(new ApiError('UNAUTHENTICATED', 'The API refused the token for live updates.'));
  }

  private closedSocket(event: unknown): void {
    if (event instanceof CloseEvent && event.code === 4403) {
      this.onUnauthenticated(new ApiError('UNAUTHENTICATED', 'The API refused the token for live updates.'));
    }
  }

  close(): void {
    void this.ws?.dispose();
    this.ws = null;
  }
}
