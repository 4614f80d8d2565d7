// Builds the whole gateway from its dependencies: the services, the Yoga
// instance every surface runs its operations through, and one edge (CORS,
// admission, rate-limit headers) in front of GraphQL, the REST API and its
// reference (OpenAPI and a docs page), the OpenAI-compatible API, the MCP
// server, the chat widget and the index routes, plus GraphQL
// over WebSocket on the same server.
import type { Server } from 'node:http';
import { createServerAdapter } from '@whatwg-node/server';
import type { Redis } from 'ioredis';
import { startBackground } from './background.ts';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { createClientAddress } from './http/client-address.ts';
import { createCors } from './http/cors.ts';
import { createEdge } from './http/edge.ts';
import { createGate } from './http/gate.ts';
import { createMetrics } from './http/metrics.ts';
import { graphqlSurface } from './http/graphql-surface.ts';
import { indexRoutes } from './http/index-routes.ts';
import { nodeListener } from './http/node-listener.ts';
import { widgetRoutes } from './http/widget-routes.ts';
import { createRateLimits } from './http/rate-limit.ts';
import { createReadiness } from './http/readiness.ts';
import { attachWebSockets } from './http/websocket.ts';
import { createLlm, type Llm } from './llm/ollama.ts';
import { silentLogger, type Logger } from './log.ts';
import { mcpSurface } from './mcp/surface.ts';
import { openAiSurface } from './openai/surface.ts';
import { docsSurface } from './openapi/surface.ts';
import { restSurface } from './rest/handler.ts';
import { createChatEventBus } from './services/chat-events.ts';
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
  /** Where access lines and failures go; silent when absent. */
  logger?: Logger;
};

export function buildApp({ config, db, llm: client = createLlm({ host: config.ollamaHost }), redis, runJobs = true, logger = silentLogger }: AppDeps) {
  // The generation gauge reads the services' slots when scraped, once they exist.
  const metrics = createMetrics({ prisma: db.prisma, generation: () => services.generation });
  const llm = metrics.meter(client);
  const events = createChatEventBus({ redis, onError: (error) => logger.warn({ err: error }, 'Redis subscription failed: events from other instances are missed until it answers') });
  const stopping = new AbortController();
  const services = createServices({ prisma: db.prisma, llm, config, events, redis, stopping: stopping.signal, logger });
  const background = startBackground({ db, services, config, runJobs, logger });
  const budgets = { widgetPerHour: config.widgetRateLimitPerHour, addressPerHour: config.addressRateLimitPerHour, visitorPerHour: config.visitorRateLimitPerHour };
  const rateLimits = createRateLimits({ redis, budgets, onRefusal: metrics.rateLimitRefused });
  const gate = createGate({ services, rateLimits });
  const cors = createCors(config.corsOrigins);
  const clientAddressOf = createClientAddress(config.trustProxy);
  const yoga = createYogaServer({ services, prisma: db.prisma, plugins: [metrics.openStreamsPlugin()] });
  const readiness = createReadiness({ prisma: db.prisma, llm, ollamaHost: config.ollamaHost, models: [config.ollamaModel, config.ollamaEmbedModel] });
  const bodyLimits = { bodyMaxBytes: config.bodyMaxBytes, uploadMaxBytes: config.uploadMaxBytes };
  const surfaces = [
    graphqlSurface({ yoga, ...bodyLimits }),
    // Before the REST API, whose prefix its paths share.
    docsSurface(),
    restSurface({ yoga, ...bodyLimits }),
    openAiSurface({ services, bodyMaxBytes: config.bodyMaxBytes, logger, streamOpened: metrics.streamOpened }),
    mcpSurface({ services, bodyMaxBytes: config.bodyMaxBytes, logger }),
    widgetRoutes(),
    indexRoutes({ readiness, metrics, metricsToken: config.metricsToken }),
  ];
  const adapter = createServerAdapter<ServerContext>(createEdge({ cors, gate, rateLimits, clientAddressOf, surfaces, metrics, logger }));

  return {
    /** The fetch handler: `app.fetch(new Request(...))` answers in process, as tests do. */
    fetch: async (request: Request): Promise<Response> => adapter.fetch(request, {}),
    /** The node:http request listener. */
    nodeHandler: nodeListener(adapter, logger),
    services,
    yoga,
    /** Resolves once replies left streaming by a stopped process are marked incomplete (a failure is logged, not thrown). */
    ready: background.ready,
    /** Serves GraphQL over WebSocket (graphql-ws) on this HTTP server, at /graphql. */
    attachWebSockets: (server: Server) =>
      attachWebSockets({ server, path: GRAPHQL_PATH, yoga, gate, cors, clientAddressOf, maxPayload: config.bodyMaxBytes }),
    /**
     * Ends the replies in progress (each stream ends with a 503 error event, each partial reply is
     * stored as incomplete) and refuses new ones; resolves once none is generating, or after 10 s.
     */
    stopServing: async () => {
      stopping.abort();
      await services.generation.idle(10_000);
    },
    /** Stops background jobs and releases what the app holds beyond the database (the Redis subscriber of chat events). */
    close: async () => {
      await background.stop();
      // A VACUUM cut short by closing the database would only be started again later.
      await services.knowledge.upkeepSettled();
      await services.replies.close();
      await services.replyControl.close();
      // Replies and jobs that just finished may still be queueing their webhook events.
      await services.webhookEvents.settled();
      await events.close();
    },
  };
}

export type App = ReturnType<typeof buildApp>;
