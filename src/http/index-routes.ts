// The routes outside the APIs: an index at / (where each API and its
// reference are), liveness (/healthz: the process serves), readiness (/readyz:
// it can do its work), Prometheus metrics (/metrics, behind METRICS_TOKEN when
// it is set), and the 404 for any other path, which points at the reference.
// None counts against a budget.
import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors.ts';
import { errorResponse, jsonResponse } from '../rest/envelope.ts';
import { DOCS_PATH, OPENAPI_PATH, REST_PREFIX, unknownPath } from '../rest/handler.ts';
import { MCP_PATH } from '../mcp/surface.ts';
import { OPENAI_PREFIX } from '../openai/surface.ts';
import { GRAPHQL_PATH } from '../yoga.ts';
import type { Surface } from './edge.ts';
import type { Metrics } from './metrics.ts';
import type { Readiness } from './readiness.ts';

const PATHS = new Set(['/', '/healthz', '/readyz', '/metrics']);

/** Where everything is, for a person or a program that starts at /. */
const INDEX = {
  name: 'assistant-gateway',
  docs: DOCS_PATH,
  openapi: OPENAPI_PATH,
  rest: `${REST_PREFIX}/`,
  graphql: GRAPHQL_PATH,
  openai: OPENAI_PREFIX,
  mcp: MCP_PATH,
  health: '/healthz',
  ready: '/readyz',
  metrics: '/metrics',
};

/** Equal-length digests, so that comparing them in constant time says nothing about the token's length. */
const sha256 = (value: string) => createHash('sha256').update(value).digest();

export function indexRoutes({ readiness, metrics, metricsToken }: { readiness: Readiness; metrics: Metrics; metricsToken?: string }): Surface {
  const tokenHash = metricsToken ? sha256(metricsToken) : null;
  return {
    matches: () => true,
    route: (_request, url) => (PATHS.has(url.pathname) ? url.pathname : 'other'),
    renderError: errorResponse,

    async serve(request, { url }) {
      if (request.method === 'GET' && url.pathname === '/') {
        return jsonResponse(INDEX, 200);
      }
      // Answers without touching the database: a busy database is /readyz's business, not a reason to restart.
      if (request.method === 'GET' && url.pathname === '/healthz') return jsonResponse({ status: 'ok' }, 200);
      if (request.method === 'GET' && url.pathname === '/readyz') {
        const { ready, checks } = await readiness.check();
        const failing = checks.filter((check) => !check.ok).map((check) => check.detail);
        const detail = ready ? 'Ready: the database, its migrations and Ollama with its models.' : `Not ready. ${failing.join(' ')}`;
        return jsonResponse({ status: ready ? 'ready' : 'not ready', detail, checks }, ready ? 200 : 503, { 'Cache-Control': 'no-store' });
      }
      if (request.method === 'GET' && url.pathname === '/metrics') {
        const presented = /^Bearer\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '')?.[1];
        if (tokenHash && !(presented && timingSafeEqual(sha256(presented), tokenHash))) {
          throw new AppError('UNAUTHENTICATED', 'The metrics need METRICS_TOKEN as a bearer token: send Authorization: Bearer <METRICS_TOKEN>.');
        }
        return new Response(await metrics.registry.metrics(), { status: 200, headers: { 'Content-Type': metrics.registry.contentType } });
      }
      throw new AppError('NOT_FOUND', unknownPath(request.method, url.pathname));
    },
  };
}
