// The routes outside the APIs: a small index at /, the health check, and the
// 404 for any other path. None needs credentials or counts against a budget.
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { AppError } from '../errors.ts';
import { errorResponse, jsonResponse } from '../rest/envelope.ts';
import { REST_PREFIX } from '../rest/handler.ts';
import { GRAPHQL_PATH } from '../yoga.ts';
import type { Surface } from './edge.ts';

export function indexRoutes({ prisma }: { prisma: PrismaClient }): Surface {
  return {
    matches: () => true,
    renderError: errorResponse,

    async serve(request, { url }) {
      if (url.pathname === '/' && request.method === 'GET') {
        return jsonResponse({ name: 'assistant-gateway', graphql: GRAPHQL_PATH, rest: `${REST_PREFIX}/`, health: '/healthz' }, 200);
      }
      if (url.pathname === '/healthz' && request.method === 'GET') {
        await prisma.$queryRaw`SELECT 1`;
        return jsonResponse({ status: 'ok' }, 200);
      }
      throw new AppError('NOT_FOUND', `There is no endpoint ${request.method} ${url.pathname}; the API lives under ${REST_PREFIX}/ and ${GRAPHQL_PATH}.`);
    },
  };
}
