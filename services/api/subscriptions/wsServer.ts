import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, Kind, OperationTypeNode, getOperationAST, parse, specifiedRules, validate, type ExecutionArgs, type GraphQLSchema, type ParseOptions, type ValidationRule } from 'graphql';
import type { Context, SubscribePayload } from 'graphql-ws';
import { useServer, type Extra as WsExtra } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import type { Principal } from '../auth/authenticate.js';
import { can, requiredPermission } from '../auth/roles.js';
import type { ApiContext } from '../context.js';
import type { ApiDeps } from '../deps.js';
import { createFormatError, toFramelogError } from '../errors.js';
import { checkRequestInput } from '../requestBoundary.js';
import { Connections, type Connection, type SubscriptionLimits } from './connections.js';

/** The largest WebSocket message the API accepts, as the JSON body limit over HTTP. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/** How often the token of every open socket is checked again; a revocation ends its subscriptions within AUTH_CACHE_SECONDS. */
export const SOCKET_RECHECK_MS = 1_000;

export interface SubscriptionServer {
  /** Closes every socket (code 1001) and stops accepting new ones. */
  dispose(): Promise<void>;
}

export interface SubscriptionServerOptions {
  /** Extra validation rules (depth, cost, aliases…), as Apollo applies them over HTTP. */
  validationRules?: readonly ValidationRule[];
  /** As Apollo parses over HTTP (the token limit). */
  parseOptions?: ParseOptions;
  limits: SubscriptionLimits;
}

// A type, not an interface: graphql-ws wants an index signature.
type Extra = { connection?: Connection };
type SocketContext = Context<{ authorization?: unknown }, WsExtra & Partial<Extra>>;

/**
 * graphql-ws on the API's own HTTP server and path (`/graphql`): plain POSTs stay with Apollo, only
 * WebSocket upgrades come here. Errors are formatted exactly as over HTTP. Each subscription is
 * admitted against the socket's and the token's limits, and the token is asked again (cached as over
 * HTTP) before each one and every SOCKET_RECHECK_MS while the socket is open.
 */
export function attachSubscriptionServer(httpServer: http.Server, schema: GraphQLSchema, deps: ApiDeps, options: SubscriptionServerOptions): SubscriptionServer {
  const prepare = subscriptionPreparer(schema, options);
  // ws accepts 100 MiB messages by default; a subscription is a few hundred bytes, and HTTP bodies stop
  // at 1 MB. A larger message closes the socket with 1009.
  const wsServer = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  acceptUpgrades(httpServer, wsServer, '/graphql');
  const formatError = createFormatError(deps.log);
  const connections = new Connections({
    authenticate: deps.authenticate,
    limits: options.limits,
    recheckMs: SOCKET_RECHECK_MS,
    format: (error) => refusal(error).map((e) => formatError(e.toJSON(), e))[0]!,
    log: deps.log,
  });
  connections.start();
  const cleanup = useServer<{ authorization?: unknown }, Extra>(
    {
      schema,
      onConnect: (ctx) => authenticateConnection(deps, connections, ctx),
      onClose: (ctx) => {
        if (ctx.extra.connection) connections.remove(ctx.extra.connection);
      },
      onSubscribe: async (ctx, id, payload) => {
        const connection = ctx.extra.connection;
        if (!connection) throw new Error('unreachable: graphql-ws only subscribes on acknowledged connections');
        // First, before any await: subscriptions sent together are admitted one after another.
        const limited = connections.admit(connection, id);
        if (limited) return refusal(limited);
        try {
          await deps.authenticate(connection.authorization);
        } catch (error) {
          // A revoked token, or PostgreSQL away (DATABASE_UNAVAILABLE): this operation's error, the socket stays.
          return refusal(toFramelogError(error));
        }
        return prepare(connection.principal, payload);
      },
      context: (ctx) => operationContext(deps, ctx),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: result.errors.map(requestErrorAsBadInput).map((error) => formatError(error.toJSON(), error)) } : undefined,
      onError: (_ctx, _id, _payload, errors) => errors.map((error) => formatError(error.toJSON(), error)),
    },
    wsServer,
  );
  return {
    async dispose() {
      connections.stop();
      await cleanup.dispose();
    },
  };
}

/**
 * graphql-ws's onConnect. The token comes in connection_init ({ authorization: "Bearer …" }) since
 * browsers cannot set headers on a WebSocket; the upgrade request's Authorization header works too. A
 * refused connection (false) is closed with 4403 Forbidden.
 */
async function authenticateConnection(deps: ApiDeps, connections: Connections, ctx: SocketContext): Promise<boolean> {
  const fromParams = ctx.connectionParams?.authorization;
  const authorization = typeof fromParams === 'string' ? fromParams : ctx.extra.request.headers.authorization;
  try {
    const principal = await deps.authenticate(authorization);
    const { socket } = ctx.extra;
    ctx.extra.connection = { authorization, principal, socket, operations: () => ctx.subscriptions };
    connections.add(ctx.extra.connection);
    return true;
  } catch (error) {
    deps.log.info({ err: error }, 'refused a subscription connection');
    return false;
  }
}

/** An operation's context, with one correlation id per operation, as for an HTTP request. */
function operationContext(deps: ApiDeps, ctx: SocketContext): ApiContext {
  const principal = ctx.extra.connection?.principal;
  if (!principal) throw new Error('unreachable: onConnect authenticates every connection');
  const correlationId = randomUUID();
  const origin = `http://${ctx.extra.request.headers.host ?? 'localhost'}`;
  return { deps, actor: principal.name, role: principal.role, correlationId, origin, log: deps.log.child({ correlationId }) };
}

/**
 * Hands WebSocket upgrades of `path` to `wsServer` and refuses others. Not `new WebSocketServer({ server })`:
 * that re-emits the HTTP server's errors on the WebSocket server, where graphql-ws prints a failed listen
 * (a port in use) as an internal error with a stack trace instead of letting start-up refuse it.
 */
function acceptUpgrades(httpServer: http.Server, wsServer: WebSocketServer, path: string): void {
  httpServer.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(request.url ?? '/', 'http://localhost').pathname !== path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wsServer.handleUpgrade(request, socket, head, (ws) => wsServer.emit('connection', ws, request));
  });
}

/**
 * Parses and validates an operation itself (graphql-ws then runs it as given), so that every refusal
 * is this operation's error, with the code Apollo gives over HTTP: left to graphql-ws, a syntax error
 * closes the whole socket with 4500, and validation errors carry no code at all. Only subscriptions
 * travel over the socket: queries and mutations go through HTTP, where the authorization plugin checks
 * them. Each subscription root field is checked against the role.
 */
function subscriptionPreparer(schema: GraphQLSchema, options: SubscriptionServerOptions) {
  const rules = [...specifiedRules, ...(options.validationRules ?? [])];
  return (principal: Principal, payload: SubscribePayload): ExecutionArgs | readonly GraphQLError[] => {
    let document;
    try {
      document = parse(payload.query, options.parseOptions);
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      return [withCode(error, 'GRAPHQL_PARSE_FAILED')];
    }
    const invalid = validate(schema, document, rules);
    if (invalid.length > 0) return invalid.map((error) => withCode(error, 'GRAPHQL_VALIDATION_FAILED'));
    const operation = getOperationAST(document, payload.operationName);
    if (!operation) {
      const message = payload.operationName ? `No operation named "${payload.operationName}" in the document.` : 'The document has several operations; name the one to run in operationName.';
      return [new GraphQLError(message, { extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } })];
    }
    if (operation.operation !== OperationTypeNode.SUBSCRIPTION) {
      return refusal(new FramelogError(ErrorCode.BAD_USER_INPUT, 'Only subscriptions are served over WebSocket; send queries and mutations as HTTP POST /graphql.'));
    }
    const badInput = checkRequestInput(document, payload.variables);
    if (badInput) return refusal(badInput);
    for (const selection of operation.selectionSet.selections) {
      const field = selection.kind === Kind.FIELD ? selection.name.value : null;
      if (!can(principal.role, requiredPermission(OperationTypeNode.SUBSCRIPTION, field ?? ''))) {
        return refusal(new FramelogError(ErrorCode.FORBIDDEN, `The role "${principal.role}" may not use ${field ?? 'this subscription'}; ask for a token with a role that may.`));
      }
    }
    return { schema, document, operationName: payload.operationName, variableValues: payload.variables };
  };
}

const refusal = (error: FramelogError) => [new GraphQLError(error.message, { originalError: error, extensions: { code: error.code } })];

/** A copy of a graphql-js error with a code, as Apollo gives it over HTTP. */
function withCode(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, extensions: { ...error.extensions, code } });
}

/**
 * graphql-js's own errors about the request (variables that do not coerce to their types) carry no
 * path, unlike a resolver's; over HTTP Apollo answers them with BAD_USER_INPUT, and so does this.
 */
function requestErrorAsBadInput(error: GraphQLError): GraphQLError {
  const fromGraphql = error.path === undefined && (error.originalError === undefined || error.originalError instanceof GraphQLError);
  return fromGraphql && error.extensions.code === undefined ? withCode(error, 'BAD_USER_INPUT') : error;
}
