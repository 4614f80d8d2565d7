// Builds the whole gateway from its dependencies: the services, the Yoga
// instance every surface runs its operations through, and one edge (CORS,
// admission, rate-limit headers) in front of GraphQL, the REST API, the
// OpenAI-compatible API, the MCP server and the index routes, plus GraphQL
// over WebSocket on the same server.
import type { Server } from 'node:http';
import { createServerAdapter } from '@whatwg-node/server';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { createClientAddress } from './http/client-address.ts';
import { createCors } from './http/cors.ts';
import { createEdge } from './http/edge.ts';
import { createGate } from './http/gate.ts';
import { graphqlSurface } from './http/graphql-surface.ts';
import { indexRoutes } from './http/index-routes.ts';
import { createRateLimits } from './http/rate-limit.ts';
import { attachWebSockets } from './http/websocket.ts';
import { createLlm, type Llm } from './llm/ollama.ts';
import { mcpSurface } from './mcp/surface.ts';
import { openAiSurface } from './openai/surface.ts';
import { restSurface } from './rest/handler.ts';
import { createChatEventBus } from './services/chat-events.ts';
import { startJobWorker } from './services/jobs.ts';
import { createServices } from './services/services.ts';
import { createYogaServer, GRAPHQL_PATH, type ServerContext } from './yoga.ts';

export type AppDeps = {
  config: Config;
  db: Database;
  /** Defaults to the Ollama client for config.ollamaHost. */
  llm?: Llm;
  /** Shared counters and pub/sub for several instances; in-memory when absent. */
  redis?: Redis;
  /** Whether this instance runs background jobs (knowledge ingestion); default true. */
  runJobs?: boolean;
};

export function buildApp({ config, db, llm = createLlm({ host: config.ollamaHost }), redis, runJobs = true }: AppDeps) {
  const events = createChatEventBus({ redis });
  const services = createServices({ prisma: db.prisma, llm, config, events });
  const worker = runJobs
    ? startJobWorker({
        queue: services.jobs,
        handlers: { ingest: services.knowledge.ingest, embed: services.knowledge.embedPassages },
        onGiveUp: services.knowledge.gaveUp,
        // PGlite's folder is this process's alone (src/db/data-lock.ts).
        exclusiveDatabase: db.kind === 'pglite',
      })
    : null;
  const budgets = { widgetPerHour: config.widgetRateLimitPerHour, addressPerHour: config.addressRateLimitPerHour, visitorPerHour: config.visitorRateLimitPerHour };
  const rateLimits = createRateLimits({ redis, budgets });
  const gate = createGate({ services, rateLimits });
  const cors = createCors(config.corsOrigins);
  const clientAddressOf = createClientAddress(config.trustProxy);
  const yoga = createYogaServer({ services, prisma: db.prisma });
  const bodyLimits = { bodyMaxBytes: config.bodyMaxBytes, uploadMaxBytes: config.uploadMaxBytes };
  const surfaces = [
    graphqlSurface({ yoga, ...bodyLimits }),
    restSurface({ yoga, ...bodyLimits }),
    openAiSurface({ services, bodyMaxBytes: config.bodyMaxBytes }),
    mcpSurface({ services, bodyMaxBytes: config.bodyMaxBytes }),
    indexRoutes({ prisma: db.prisma }),
  ];
  const adapter = createServerAdapter<ServerContext>(createEdge({ cors, gate, rateLimits, clientAddressOf, surfaces }));

  return {
    /** The fetch handler: `app.fetch(new Request(...))` answers in process, as tests do. */
    fetch: async (request: Request): Promise<Response> => adapter.fetch(request, {}),
    /** The node:http request listener. */
    nodeHandler: adapter,
    services,
    yoga,
    /** Serves GraphQL over WebSocket (graphql-ws) on this HTTP server, at /graphql. */
    attachWebSockets: (server: Server) =>
      attachWebSockets({ server, path: GRAPHQL_PATH, yoga, gate, cors, clientAddressOf, maxPayload: config.bodyMaxBytes }),
    /** Stops background jobs and releases what the app holds beyond the database (the Redis subscriber of chat events). */
    close: async () => {
      await worker?.stop();
      // A VACUUM cut short by closing the database would only be started again later.
      await services.knowledge.upkeepSettled();
      await events.close();
    },
  };
}

export type App = ReturnType<typeof buildApp>;
