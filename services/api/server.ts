import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { z } from 'zod';
import { traceparentOf } from '../domain/events.js';
import { authenticateRequest, authorizationPlugin, principalOf } from './auth/gate.js';
import { graphqlProtection } from './armor.js';
import type { ApiContext } from './context.js';
import type { ApiDeps } from './deps.js';
import { createFormatError, httpErrorHandler, notFoundHandler } from './errors.js';
import { requestBoundaryPlugin } from './requestBoundary.js';
import { resolvers } from './resolvers.js';
import type { SubscriptionLimits } from './subscriptions/connections.js';
import { attachSubscriptionServer } from './subscriptions/wsServer.js';
import { mediaRoute } from './media.js';
import { graphqlMultipart } from './upload.js';
import { UPLOADS_PATH } from './uploads/tusServer.js';
import { webPage } from './webPage.js';

export interface ApiServerOptions {
  /** The GraphQL schema's SDL (schema/schema.graphql), read by the entry point. */
  typeDefs: string;
  /** Introspection is for development; production hides the schema. */
  introspection: boolean;
  /** REQUEST_TIMEOUT_SECONDS, in ms: the longest a whole request (an upload's body included) may take. */
  requestTimeoutMs: number;
  /** MAX_SUBSCRIPTIONS_PER_SOCKET and MAX_SUBSCRIPTIONS_PER_TOKEN. */
  subscriptionLimits: SubscriptionLimits;
}

export interface ApiServer {
  httpServer: http.Server;
  /** Starts listening; resolves with the bound port (pass 0 for any free port). */
  listen(port: number, host: string): Promise<number>;
  /** Stops taking requests and waits for those in flight (Apollo drain plugin). */
  stop(): Promise<void>;
}

const correlationHeader = z.uuid();

/** A readiness probe slower than this counts as down: an orchestrator's probe must never hang. */
const READINESS_TIMEOUT_MS = 3_000;

async function withTimeout(work: Promise<void>, ms: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function createApiServer(deps: ApiDeps, options: ApiServerOptions): Promise<ApiServer> {
  const app = express();
  app.disable('x-powered-by');
  // GraphQL answers are POSTs, never revalidated: hashing every body for an ETag only costs CPU
  // (~1 % of the API's in the video benchmark). /media sets its own ETags (media.ts).
  app.set('etag', false);
  const httpServer = http.createServer(
    {
      requestTimeout: options.requestTimeoutMs,
      // Node checks request timeouts on this period (default 30 s); a short timeout needs a shorter one.
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(options.requestTimeoutMs / 4))),
    },
    app,
  );
  const apollo = createApollo(httpServer, deps, options);
  await apollo.start();
  mountRoutes(app, deps, apollo);
  return {
    httpServer,
    listen: (port, host) => listen(httpServer, port, host),
    stop: () => apollo.stop(),
  };
}

/** Apollo over the schema, with the protection limits, and graphql-ws on the same server and path. */
function createApollo(httpServer: http.Server, deps: ApiDeps, options: ApiServerOptions): ApolloServer<ApiContext> {
  const schema = makeExecutableSchema<ApiContext>({ typeDefs: options.typeDefs, resolvers });
  // Depth, cost, alias, directive and token limits; batched requests are refused.
  const protection = graphqlProtection<ApiContext>();
  // Subscriptions (videoUpdated) over graphql-ws on the same server and path, with the same limits.
  const subscriptions = attachSubscriptionServer(httpServer, schema, deps, {
    validationRules: protection.validationRules,
    parseOptions: protection.parseOptions,
    limits: options.subscriptionLimits,
  });
  return new ApolloServer<ApiContext>({
    schema,
    introspection: options.introspection,
    formatError: createFormatError(deps.log),
    // CSRF prevention stays on (Apollo's default): multipart needs `apollo-require-preflight`.
    csrfPrevention: true,
    validationRules: protection.validationRules,
    parseOptions: protection.parseOptions,
    allowBatchedHttpRequests: protection.allowBatchedHttpRequests,
    includeStacktraceInErrorResponses: false,
    // services/main/api.ts owns the shutdown order (HTTP, relay, broker, pool); Apollo must not race it.
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      // The schema has no @cacheControl hints; the default plugin would wrap every field's resolver to
      // compute a policy nobody reads (~2 % of the API's CPU in the video benchmark).
      ApolloServerPluginCacheControlDisabled(),
      ...protection.plugins,
      authorizationPlugin,
      requestBoundaryPlugin,
      // WebSocket clients are closed when Apollo drains, so they do not hold the HTTP server open.
      { serverWillStart: () => Promise.resolve({ drainServer: () => subscriptions.dispose() }) },
    ],
  });
}

/** Every HTTP route of the API, in the order they are matched. */
function mountRoutes(app: express.Express, deps: ApiDeps, apollo: ApolloServer<ApiContext>): void {
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', readinessHandler(deps.readiness));
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  // Outputs, from storage: only they are public (never uploaded sources); headers decided by httpPolicy.ts.
  app.use('/media', mediaRoute(deps.storage));

  // Resumable uploads (tus): authenticated by the tus hooks themselves, which answer in the API's error shape.
  app.use((req, res, next) => {
    if (req.path !== UPLOADS_PATH && !req.path.startsWith(`${UPLOADS_PATH}/`)) {
      next();
      return;
    }
    deps.tus.handle(req, res).catch(next);
  });

  app.use(
    '/graphql',
    express.json({ limit: '1mb' }),
    // Before the multipart parser: a caller who may not upload is refused before the file is read.
    authenticateRequest(deps.authenticate),
    // Streams the file part to the resolver; storage enforces deps.maxUploadBytes as it writes.
    graphqlMultipart({ maxFiles: 1, maxFieldSize: 1_000_000 }),
    expressMiddleware(apollo, { context: ({ req, res }) => Promise.resolve(requestContext(deps, req, res)) }),
  );
  // The web page at / (static files built by Vite; it uses only /graphql and /media, like any client).
  app.use(webPage());
  app.use(notFoundHandler);
  app.use(httpErrorHandler(deps.log));
}

/** /readyz: every probe, each within READINESS_TIMEOUT_MS; 503 with each one's result when any failed. */
function readinessHandler(readiness: ApiDeps['readiness']): express.RequestHandler {
  return async (_req, res) => {
    const checks = await Promise.all(
      Object.entries(readiness).map(async ([name, probe]) => {
        try {
          await withTimeout(probe(), READINESS_TIMEOUT_MS, `${name} did not answer within ${READINESS_TIMEOUT_MS} ms`);
          return [name, 'ok'] as const;
        } catch (error) {
          return [name, error instanceof Error ? error.message : 'failed'] as const;
        }
      }),
    );
    const ready = checks.every(([, result]) => result === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(checks) });
  };
}

/** A GraphQL request's context: its correlation id (the caller's X-Correlation-Id if a UUID), principal and logger. */
function requestContext(deps: ApiDeps, req: express.Request, res: express.Response): ApiContext {
  const header = req.headers['x-correlation-id'];
  // typeof first: a failed safeParse builds a ZodError, and most requests send no header.
  const correlationId = typeof header === 'string' && correlationHeader.safeParse(header).success ? header : randomUUID();
  const principal = principalOf(res);
  const traceparent = traceparentOf(req.headers.traceparent);
  const log = deps.log.child({ correlationId, actor: principal.name });
  const origin = `${req.protocol}://${req.get('host') ?? 'localhost'}`;
  return { deps, actor: principal.name, role: principal.role, correlationId, origin, ...(traceparent === undefined ? {} : { traceparent }), log };
}

/** Starts listening; resolves with the bound port. */
function listen(httpServer: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, host, () => {
      const address = httpServer.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
