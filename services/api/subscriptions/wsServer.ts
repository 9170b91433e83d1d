import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { GraphQLError, Kind, OperationTypeNode, getOperationAST, parse, specifiedRules, validate, type GraphQLSchema, type ValidationRule } from 'graphql';
import { ErrorCode, FramelogError } from '../../domain/errors.js';
import { can, requiredPermission } from '../auth/roles.js';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Principal } from '../auth/authenticate.js';
import type { ApiContext } from '../context.js';
import type { ApiDeps } from '../deps.js';
import { createFormatError } from '../errors.js';

export interface SubscriptionServer {
  /** Closes every socket (code 1001) and stops accepting new ones. */
  dispose(): Promise<void>;
}

/**
 * graphql-ws on the API's own HTTP server and path (`/graphql`): plain POSTs stay with Apollo, only
 * WebSocket upgrades come here. Errors are formatted exactly as over HTTP.
 */
export interface SubscriptionServerOptions {
  /** Extra validation rules (depth, cost, aliases…), as Apollo applies them over HTTP. */
  validationRules?: readonly ValidationRule[];
}

export function attachSubscriptionServer(httpServer: http.Server, schema: GraphQLSchema, deps: ApiDeps, options: SubscriptionServerOptions = {}): SubscriptionServer {
  const rules = [...specifiedRules, ...(options.validationRules ?? [])];
  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql' });
  const formatError = createFormatError(deps.log);
  const cleanup = useServer<{ authorization?: unknown }, { principal: Principal }>(
    {
      schema,
      validate: (validatedSchema, document) => validate(validatedSchema, document, rules),
      // The token comes in connection_init ({ authorization: "Bearer …" }) since browsers cannot set
      // headers on a WebSocket; the upgrade request's Authorization header works too. A refused
      // connection is closed with 4403 Forbidden.
      onConnect: async (ctx) => {
        const fromParams = ctx.connectionParams?.authorization;
        const authorization = typeof fromParams === 'string' ? fromParams : ctx.extra.request.headers.authorization;
        try {
          ctx.extra.principal = await deps.authenticate(authorization);
          return true;
        } catch (error) {
          deps.log.info({ err: error }, 'refused a subscription connection');
          return false;
        }
      },
      // Only subscriptions travel over the socket: queries and mutations go through HTTP, where the
      // authorization plugin checks them. Each subscription root field is checked against the role.
      onSubscribe: (ctx, _id, payload) => {
        let document;
        try {
          document = parse(payload.query);
        } catch {
          return undefined; // graphql-ws answers the syntax error itself
        }
        const operation = getOperationAST(document, payload.operationName);
        const refuse = (error: FramelogError) => [new GraphQLError(error.message, { extensions: { code: error.code } })];
        if (!operation) return undefined;
        if (operation.operation !== OperationTypeNode.SUBSCRIPTION) {
          return refuse(new FramelogError(ErrorCode.BAD_USER_INPUT, 'Only subscriptions are served over WebSocket; send queries and mutations as HTTP POST /graphql.'));
        }
        const role = ctx.extra.principal?.role;
        for (const selection of operation.selectionSet.selections) {
          const field = selection.kind === Kind.FIELD ? selection.name.value : null;
          const permission = requiredPermission(OperationTypeNode.SUBSCRIPTION, field ?? '');
          if (role === undefined || !can(role, permission)) {
            return refuse(new FramelogError(ErrorCode.FORBIDDEN, `The role "${role ?? 'none'}" may not use ${field ?? 'this subscription'}; ask for a token with a role that may.`));
          }
        }
        return undefined;
      },
      context: (ctx): ApiContext => {
        const principal = ctx.extra.principal;
        if (!principal) throw new Error('unreachable: onConnect authenticates every connection');
        // One correlation id per operation, as for an HTTP request.
        const correlationId = randomUUID();
        return { deps, actor: principal.name, role: principal.role, correlationId, log: deps.log.child({ correlationId }) };
      },
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: result.errors.map((error) => formatError(error.toJSON(), error)) } : undefined,
      onError: (_ctx, _id, _payload, errors) => errors.map((error) => formatError(error.toJSON(), error)),
    },
    wsServer,
  );
  return {
    async dispose() {
      await cleanup.dispose();
    },
  };
}
