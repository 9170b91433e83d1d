import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import graphqlUploadExpress from 'graphql-upload/graphqlUploadExpress.mjs';
import { z } from 'zod';
import type { ApiContext } from './context.js';
import type { ApiDeps } from './deps.js';
import { createFormatError } from './errors.js';
import { resolvers } from './resolvers.js';

const SCHEMA_DIR = fileURLToPath(new URL('../../schema', import.meta.url));
export const typeDefs = readFileSync(path.join(SCHEMA_DIR, 'schema.graphql'), 'utf8');

export interface ApiServerOptions {
  mediaRoot: string;
  /** Introspection is for development; production hides the schema. */
  introspection: boolean;
}

export interface ApiServer {
  httpServer: http.Server;
  /** Starts listening; resolves with the bound port (pass 0 for any free port). */
  listen(port: number, host: string): Promise<number>;
  /** Stops taking requests and waits for those in flight (Apollo drain plugin). */
  stop(): Promise<void>;
}

const correlationHeader = z.uuid();

export async function createApiServer(deps: ApiDeps, options: ApiServerOptions): Promise<ApiServer> {
  const app = express();
  app.disable('x-powered-by');
  const httpServer = http.createServer(app);
  const apollo = new ApolloServer<ApiContext>({
    typeDefs,
    resolvers,
    introspection: options.introspection,
    formatError: createFormatError(deps.log),
    // CSRF prevention stays on (Apollo's default): multipart needs `apollo-require-preflight`.
    csrfPrevention: true,
    // main.ts owns the shutdown order (HTTP, relay, broker, pool); Apollo must not race it.
    stopOnTerminationSignals: false,
    plugins: [ApolloServerPluginDrainHttpServer({ httpServer })],
  });
  await apollo.start();

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const checks = await Promise.all(
      Object.entries(deps.readiness).map(async ([name, probe]) => {
        try {
          await probe();
          return [name, 'ok'] as const;
        } catch (error) {
          return [name, error instanceof Error ? error.message : 'failed'] as const;
        }
      }),
    );
    const ready = checks.every(([, result]) => result === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(checks) });
  });

  // Only outputs are public; uploaded sources are not. send() answers Range requests (206) itself.
  app.use(
    '/media/renditions',
    express.static(path.join(options.mediaRoot, 'renditions'), { index: false, dotfiles: 'deny', fallthrough: false, immutable: false }),
  );

  app.use(
    '/graphql',
    express.json({ limit: '1mb' }),
    graphqlUploadExpress({ maxFileSize: deps.maxUploadBytes, maxFiles: 1, maxFieldSize: 1_000_000 }),
    expressMiddleware(apollo, {
      context: ({ req }) => {
        const header = req.headers['x-correlation-id'];
        const correlationId = correlationHeader.safeParse(header).success ? (header as string) : randomUUID();
        return Promise.resolve({ deps, actor: 'anonymous', correlationId, log: deps.log.child({ correlationId }) });
      },
    }),
  );

  return {
    httpServer,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => {
          const address = httpServer.address();
          resolve(typeof address === 'object' && address ? address.port : port);
        });
      }),
    stop: () => apollo.stop(),
  };
}
