import WebSocket from 'ws';
import { waitFor } from './processes.js';

/** A graphql-transport-ws message as the server sends it. */
export interface ServerMessage {
  id?: string;
  type: string;
  payload?: unknown;
}

export interface Closed {
  code: number;
  reason: string;
}

/**
 * One graphql-ws socket spoken raw (graphql-transport-ws protocol), so a test sees every message and the
 * close code exactly as the server sends them, with no client library retrying or hiding them.
 */
export class SubscriptionSocket {
  readonly messages: ServerMessage[] = [];
  closedWith: Closed | undefined;
  readonly closed: Promise<Closed>;

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => this.messages.push(JSON.parse(data.toString()) as ServerMessage));
    this.closed = new Promise((resolve) => {
      socket.once('close', (code, reason) => {
        this.closedWith = { code, reason: reason.toString() };
        resolve(this.closedWith);
      });
    });
  }

  /** Connects and sends connection_init; resolves once the server acknowledged or closed the socket. */
  static async open(baseUrl: string, authorization?: string): Promise<SubscriptionSocket> {
    const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    const connection = new SubscriptionSocket(socket);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    socket.send(JSON.stringify({ type: 'connection_init', payload: authorization === undefined ? {} : { authorization } }));
    await waitFor(() => connection.closedWith !== undefined || connection.messages.some((m) => m.type === 'connection_ack'), { message: 'connection_ack or close' });
    return connection;
  }

  get acknowledged(): boolean {
    return this.messages.some((m) => m.type === 'connection_ack');
  }

  subscribe(id: string, query: string, variables: Record<string, unknown> = {}): void {
    this.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }));
  }

  complete(id: string): void {
    this.socket.send(JSON.stringify({ id, type: 'complete' }));
  }

  /** Messages about subscription `id`. */
  of(id: string): ServerMessage[] {
    return this.messages.filter((m) => m.id === id);
  }

  /** The error codes the server answered subscription `id` with, if it did. */
  errorCodes(id: string): (string | undefined)[] | undefined {
    const error = this.of(id).find((m) => m.type === 'error');
    return (error?.payload as { extensions?: { code?: string } }[] | undefined)?.map((e) => e.extensions?.code);
  }

  close(): void {
    this.socket.close();
  }
}
