import type { GraphQLFormattedError } from 'graphql';
import { CloseCode, MessageType, stringifyMessage } from 'graphql-ws';
import type { WebSocket } from 'ws';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import type { Logger } from '../../logger.js';
import type { Authenticator, Principal } from '../auth/authenticate.js';

export interface SubscriptionLimits {
  /** MAX_SUBSCRIPTIONS_PER_SOCKET: running at once on one WebSocket. */
  perSocket: number;
  /** MAX_SUBSCRIPTIONS_PER_TOKEN: running at once over every socket of one token (development's open mode: of everyone). */
  perToken: number;
}

/** One acknowledged graphql-ws connection, as the limits and the token checks see it. */
export interface Connection {
  /** The Authorization it connected with, checked again while it stays open. */
  readonly authorization: string | undefined;
  readonly principal: Principal;
  readonly socket: WebSocket;
  /** graphql-ws's operations of this socket by id: those starting or running (ctx.subscriptions). */
  operations(): Readonly<Record<string, unknown>>;
}

export interface ConnectionsOptions {
  authenticate: Authenticator;
  limits: SubscriptionLimits;
  /** How often every open socket's token is checked again (ms). */
  recheckMs: number;
  /** The error as a client receives it (the API's formatError). */
  format(error: FramelogError): GraphQLFormattedError;
  log: Logger;
}

/**
 * The API process's open subscription sockets: how many subscriptions each socket and each token runs
 * (refusing one more past a limit), and whether each socket's token still holds. A socket whose token is
 * revoked (or that is anonymous once the first token exists) has every subscription ended with
 * UNAUTHENTICATED and is closed with 4403, within AUTH_CACHE_SECONDS of the change.
 */
export class Connections {
  readonly #options: ConnectionsOptions;
  /** Ids each connection was allowed to start; only those still in its operations() count. */
  readonly #admitted = new Map<Connection, Set<string>>();
  readonly #byActor = new Map<string, Set<Connection>>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ConnectionsOptions) {
    this.#options = options;
  }

  add(connection: Connection): void {
    this.#admitted.set(connection, new Set());
    const name = connection.principal.name;
    this.#byActor.set(name, (this.#byActor.get(name) ?? new Set()).add(connection));
  }

  remove(connection: Connection): void {
    this.#admitted.delete(connection);
    const same = this.#byActor.get(connection.principal.name);
    same?.delete(connection);
    if (same?.size === 0) this.#byActor.delete(connection.principal.name);
  }

  /**
   * Admits subscription `id` on `connection`, or says which limit it would pass. Synchronous, so that
   * subscriptions sent together are counted one after another.
   */
  admit(connection: Connection, id: string): FramelogError | null {
    const { perSocket, perToken } = this.#options.limits;
    const onSocket = this.#running(connection, id);
    if (onSocket >= perSocket) {
      return tooMany(`This socket runs ${onSocket} subscriptions, the most MAX_SUBSCRIPTIONS_PER_SOCKET allows; complete one first.`, 'MAX_SUBSCRIPTIONS_PER_SOCKET', perSocket);
    }
    const name = connection.principal.name;
    let ofToken = 0;
    for (const other of this.#byActor.get(name) ?? []) ofToken += this.#running(other, id);
    if (ofToken >= perToken) {
      return tooMany(`The token "${name}" runs ${ofToken} subscriptions over all its sockets, the most MAX_SUBSCRIPTIONS_PER_TOKEN allows; complete one first.`, 'MAX_SUBSCRIPTIONS_PER_TOKEN', perToken);
    }
    this.#admitted.get(connection)?.add(id);
    return null;
  }

  /** Subscriptions admitted on `connection` and still starting or running, `except` one id. */
  #running(connection: Connection, except: string): number {
    const admitted = this.#admitted.get(connection);
    if (!admitted) return 0;
    const operations = connection.operations();
    let count = 0;
    for (const id of admitted) {
      if (!(id in operations)) admitted.delete(id);
      else if (id !== except) count += 1;
    }
    return count;
  }

  /** Starts checking every open socket's token each `recheckMs`. */
  start(): void {
    this.#timer ??= setInterval(() => void this.#recheck(), this.#options.recheckMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Asks once per distinct Authorization; a database outage keeps sockets open (requests fail meanwhile). */
  async #recheck(): Promise<void> {
    const byAuthorization = new Map<string | undefined, Connection[]>();
    for (const connection of this.#admitted.keys()) {
      byAuthorization.set(connection.authorization, [...(byAuthorization.get(connection.authorization) ?? []), connection]);
    }
    await Promise.all(
      [...byAuthorization].map(async ([authorization, connections]) => {
        try {
          await this.#options.authenticate(authorization, { validForMs: this.#options.recheckMs });
        } catch (error) {
          if (error instanceof FramelogError && error.code === ErrorCode.UNAUTHENTICATED) connections.forEach((c) => this.#end(c, error));
          else this.#options.log.warn({ err: error }, 'could not check the token of open subscription sockets; trying again');
        }
      }),
    );
  }

  /** Ends each running subscription with `error`, then closes the socket (4403 Forbidden). */
  #end(connection: Connection, error: FramelogError): void {
    const ids = [...(this.#admitted.get(connection) ?? [])].filter((id) => id in connection.operations());
    this.remove(connection);
    const payload = [this.#options.format(error)];
    for (const id of ids) connection.socket.send(stringifyMessage({ id, type: MessageType.Error, payload }));
    connection.socket.close(CloseCode.Forbidden, 'Forbidden: the API token is no longer valid');
    this.#options.log.info({ actor: connection.principal.name, subscriptions: ids.length }, 'closed a subscription socket whose token is no longer valid');
  }
}

const tooMany = (message: string, setting: string, limit: number) =>
  new FramelogError(ErrorCode.TOO_MANY_SUBSCRIPTIONS, message, { details: { setting, limit } });
