// The routes outside the APIs: a small index at /, liveness (/healthz: the
// process serves), readiness (/readyz: it can do its work), and the 404 for
// any other path. None needs credentials or counts against a budget.
import { AppError } from '../errors.ts';
import { errorResponse, jsonResponse } from '../rest/envelope.ts';
import { REST_PREFIX } from '../rest/handler.ts';
import { GRAPHQL_PATH } from '../yoga.ts';
import type { Surface } from './edge.ts';
import type { Readiness } from './readiness.ts';

export function indexRoutes({ readiness }: { readiness: Readiness }): Surface {
  return {
    matches: () => true,
    renderError: errorResponse,

    async serve(request, { url }) {
      if (request.method === 'GET' && url.pathname === '/') {
        return jsonResponse({ name: 'assistant-gateway', graphql: GRAPHQL_PATH, rest: `${REST_PREFIX}/`, health: '/healthz', ready: '/readyz' }, 200);
      }
      // Answers without touching the database: a busy database is /readyz's business, not a reason to restart.
      if (request.method === 'GET' && url.pathname === '/healthz') return jsonResponse({ status: 'ok' }, 200);
      if (request.method === 'GET' && url.pathname === '/readyz') {
        const { ready, checks } = await readiness.check();
        const failing = checks.filter((check) => !check.ok).map((check) => check.detail);
        const detail = ready ? 'Ready: the database, its migrations and Ollama with its models.' : `Not ready. ${failing.join(' ')}`;
        return jsonResponse({ status: ready ? 'ready' : 'not ready', detail, checks }, ready ? 200 : 503, { 'Cache-Control': 'no-store' });
      }
      throw new AppError('NOT_FOUND', `There is no endpoint ${request.method} ${url.pathname}; the API lives under ${REST_PREFIX}/ and ${GRAPHQL_PATH}.`);
    },
  };
}
