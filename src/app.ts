// Builds the whole gateway from its dependencies: one fetch handler serving
// GraphQL (/graphql), the REST API (/api/v1) and a small index, behind one
// edge that applies CORS, authentication and rate limits to every surface.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { createServerAdapter } from '@whatwg-node/server';
import type { DocumentNode } from 'graphql';
import { createYoga } from 'graphql-yoga';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import type { Context, EdgeContext } from './context.ts';
import type { Database } from './db/database.ts';
import { AppError, statusOf } from './errors.ts';
import { useAuthFailureReport, type AuthOutcome } from './http/auth-failures.ts';
import { createCors } from './http/cors.ts';
import { createGate, credentialsFrom, type Admission } from './http/gate.ts';
import { useInputGuard } from './http/input-guard.ts';
import { createRateLimits, rateLimitHeaders } from './http/rate-limit.ts';
import { attachWebSockets } from './http/websocket.ts';
import { createLlm, type Llm } from './llm/ollama.ts';
import { createRestHandler, errorResponse, REST_PREFIX, type Operations } from './rest/handler.ts';
import { readBytes } from './rest/body.ts';
import { jsonResponse } from './rest/envelope.ts';
import { schema } from './schema/index.ts';
import { createChatEventBus } from './services/chat-events.ts';
import { startJobWorker } from './services/jobs.ts';
import { createServices } from './services/services.ts';
import { startReplyRecovery } from './services/streaming-replies.ts';

export type AppDeps = {
  config: Config;
  db: Database;
  /** Defaults to the Ollama client for config.ollamaHost. */
  llm?: Llm;
  /** Shared counters for several instances; in-memory when absent. */
  redis?: Redis;
  /** Whether this instance runs background jobs (knowledge ingestion); default true. */
  runJobs?: boolean;
};

type ServerContext = { req?: IncomingMessage; authOutcome?: AuthOutcome };

const GRAPHQL_PATH = '/graphql';

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
  // Replies a killed process left "streaming" become "incomplete" (all of them with PGlite, stale ones with PostgreSQL).
  const recovery = startReplyRecovery({ prisma: db.prisma, exclusiveDatabase: db.kind === 'pglite' });
  const rateLimits = createRateLimits({ redis });
  const gate = createGate({ services, rateLimits });
  const cors = createCors(config.corsOrigins);
  const rest = createRestHandler({ bodyMaxBytes: config.bodyMaxBytes, uploadMaxBytes: config.uploadMaxBytes });

  const yoga = createYoga<ServerContext & EdgeContext, Context>({
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    cors: false, // the edge answers CORS for every path
    landingPage: false,
    batching: false,
    graphiql: { title: 'Assistant gateway', headers: '{\n  "X-API-Key": "",\n  "X-API-Secret": ""\n}' },
    renderGraphiQL,
    logging: 'warn',
    context: ({ viewer, requestId, signal, chargeOrganization }) => ({
      viewer,
      requestId,
      signal,
      chargeOrganization,
      services,
      prisma: db.prisma,
    }),
    plugins: [
      EnvelopArmorPlugin({
        maxDepth: { n: 10, ignoreIntrospection: true },
        maxAliases: { n: 15 },
        maxTokens: { n: 2000 },
        costLimit: { maxCost: 5000 },
        maxDirectives: { n: 20 },
      }),
      useInputGuard(),
      useAuthFailureReport(),
    ],
  });

  /** Runs a REST route's operations through Yoga's own pipeline (same plugins, masking and context). */
  function operationsFor(request: Request, edge: EdgeContext & ServerContext): Operations {
    const run = async (kind: 'execute' | 'subscribe', document: DocumentNode, variableValues: Record<string, unknown>) => {
      const enveloped = yoga.getEnveloped({ ...edge, request, params: {} } as never);
      const contextValue = await enveloped.contextFactory();
      return enveloped[kind]({ schema: enveloped.schema, document, variableValues, contextValue });
    };
    return {
      execute: (document, variables) => run('execute', document, variables) as never,
      subscribe: (document, variables) => run('subscribe', document, variables) as never,
    };
  }

  function edgeContext(request: Request, admission: Admission, requestId: string): EdgeContext {
    return { viewer: admission.viewer, requestId, signal: request.signal, chargeOrganization: admission.chargeOrganization };
  }

  function graphqlError(error: AppError): Response {
    const headers: Record<string, string> = {};
    if (error.extensions.retryAfter) headers['Retry-After'] = String(error.extensions.retryAfter);
    return jsonResponse({ errors: [{ message: error.message, extensions: { code: error.extensions.code } }] }, statusOf(error.extensions.code), headers);
  }

  async function route(request: Request, url: URL, requestId: string, clientAddress: string, admission: { current?: Admission }) {
    const isRest = url.pathname === REST_PREFIX || url.pathname.startsWith(`${REST_PREFIX}/`);
    if (url.pathname === GRAPHQL_PATH || isRest) {
      const resolved = isRest ? rest.resolve(request, url) : null;
      if (resolved instanceof Response) return resolved;
      const render = isRest ? errorResponse : graphqlError;
      try {
        admission.current = await gate.admit(credentialsFrom(request.headers), clientAddress);
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        admission.current = { viewer: null, rateLimit: (error as { rateLimit?: never }).rateLimit, chargeOrganization: async () => {} };
        return render(error);
      }
      const authOutcome: AuthOutcome = { unauthenticated: false };
      const edge = { ...edgeContext(request, admission.current, requestId), authOutcome };
      const response = resolved ? await rest.run(request, url, resolved, operationsFor(request, edge)) : await graphql(request, edge);
      const refusal = admission.current.refusal;
      if (refusal && !isRest) {
        // Counted only once the operation ran (a widget token's organization is known then); refused all the same.
        await response.body?.cancel();
        return graphqlError(refusal);
      }
      if (authOutcome.unauthenticated) {
        try {
          await rateLimits.chargeFailedAuth(clientAddress);
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          await response.body?.cancel();
          admission.current.rateLimit = (error as { rateLimit?: never }).rateLimit;
          return render(error);
        }
      }
      return response;
    }
    if (url.pathname === '/' && request.method === 'GET') {
      return jsonResponse({ name: 'assistant-gateway', graphql: GRAPHQL_PATH, rest: `${REST_PREFIX}/`, health: '/healthz' }, 200);
    }
    if (url.pathname === '/healthz' && request.method === 'GET') {
      await db.prisma.$queryRaw`SELECT 1`;
      return jsonResponse({ status: 'ok' }, 200);
    }
    return errorResponse(new AppError('NOT_FOUND', `There is no endpoint ${request.method} ${url.pathname}; the API lives under ${REST_PREFIX}/ and ${GRAPHQL_PATH}.`));
  }

  /** GraphQL over HTTP, its body read within the limit first. */
  async function graphql(request: Request, edge: EdgeContext & ServerContext): Promise<Response> {
    let body: Uint8Array<ArrayBuffer> | undefined;
    if (request.body) {
      // Read within the limit here: a chunked body declares no length, and Yoga would read any size.
      // Multipart requests (file uploads) may be as large as an upload.
      const multipart = /^multipart\/form-data/i.test(request.headers.get('content-type') ?? '');
      try {
        body = await readBytes(request, multipart ? config.uploadMaxBytes + 64 * 1024 : config.bodyMaxBytes);
      } catch (error) {
        if (error instanceof AppError) return graphqlError(error);
        throw error;
      }
    }
    // Rebuilt from parts: the node adapter's Request is not one that the global Request accepts as input.
    const bounded =
      body === undefined
        ? request
        : new Request(request.url, { method: request.method, headers: request.headers, body, signal: request.signal });
    const response = await yoga.fetch(bounded, edge);
    if (response.headers.get('content-type')?.startsWith('text/html')) {
      // GraphiQL's page is large and never changes between requests of one version.
      response.headers.set('Cache-Control', 'public, max-age=3600');
    }
    return response;
  }

  async function handle(request: Request, serverContext: ServerContext): Promise<Response> {
    const origin = request.headers.get('origin');
    if (request.method === 'OPTIONS') return cors.preflight(request);
    const requestId = request.headers.get('x-request-id')?.slice(0, 100) || randomUUID();
    const clientAddress = serverContext.req?.socket.remoteAddress ?? 'local';
    const url = new URL(request.url);
    const admission: { current?: Admission } = {};
    let response: Response;
    try {
      response = await route(request, url, requestId, clientAddress, admission);
    } catch (error) {
      console.error(`[${requestId}] ${request.method} ${url.pathname} failed:`, error);
      response = jsonResponse(
        { status: 'error', status_code: 500, detail: `Something went wrong on our side (request ${requestId}); please retry or report it.`, data: null },
        500,
      );
    }
    const headers = new Headers(response.headers);
    for (const [name, value] of Object.entries(cors.headers(origin))) headers.set(name, value);
    const rateLimit = admission.current?.rateLimit;
    if (rateLimit) for (const [name, value] of Object.entries(rateLimitHeaders(rateLimit))) headers.set(name, value);
    headers.set('X-Request-Id', requestId);
    // A body refused for its size was not read to the end: the connection cannot carry another request.
    if (response.status === 413) headers.set('Connection', 'close');
    // Node writes the reason phrase it is given; an empty one reads as a broken status line.
    return new Response(response.body, { status: response.status, statusText: STATUS_CODES[response.status], headers });
  }

  const adapter = createServerAdapter<ServerContext>(handle);

  return {
    /** The fetch handler: `app.fetch(new Request(...))` answers in process, as tests do. */
    fetch: async (request: Request): Promise<Response> => adapter.fetch(request, {}),
    /** The node:http request listener. */
    nodeHandler: adapter,
    services,
    yoga,
    /** Resolves once replies left streaming by a stopped process are marked incomplete (a failure is logged, not thrown). */
    ready: recovery.ready,
    /** Serves GraphQL over WebSocket (graphql-ws) on this HTTP server, at /graphql. */
    attachWebSockets: (server: Server) => attachWebSockets({ server, path: GRAPHQL_PATH, yoga, gate, cors, maxPayload: config.bodyMaxBytes }),
    /** Stops background jobs and releases what the app holds beyond the database (the Redis subscriber of chat events). */
    close: async () => {
      recovery.stop();
      await worker?.stop();
      // A VACUUM cut short by closing the database would only be started again later.
      await services.knowledge.upkeepSettled();
      await services.replies.close();
      await events.close();
    },
  };
}

export type App = ReturnType<typeof buildApp>;
