// The one Yoga instance every surface runs its operations through: GraphQL over
// HTTP, the REST routes and GraphQL over WebSocket share its schema, context,
// limits and masking.
import type { IncomingMessage } from 'node:http';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { createYoga, type Plugin } from 'graphql-yoga';
import type { PrismaClient } from '../generated/prisma/client.ts';
import type { Context, EdgeContext } from './context.ts';
import { useAuthFailureReport, type AuthOutcome } from './http/auth-failures.ts';
import { useInputGuard } from './http/input-guard.ts';
import { useQueryShapeLimit } from './http/query-shape.ts';
import { useDirectDeltas } from './schema/direct-deltas.ts';
import { schema } from './schema/index.ts';
import type { Services } from './services/services.ts';

export const GRAPHQL_PATH = '/graphql';

/** What the HTTP server hands to Yoga besides the edge's context. */
export type ServerContext = { req?: IncomingMessage; authOutcome?: AuthOutcome };

export function createYogaServer({ services, prisma, plugins = [] }: { services: Services; prisma: PrismaClient; plugins?: Plugin[] }) {
  return createYoga<ServerContext & EdgeContext, Context>({
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    cors: false, // the edge answers CORS for every path
    landingPage: false,
    batching: false,
    graphiql: { title: 'Assistant gateway', headers: '{\n  "X-API-Key": "",\n  "X-API-Secret": ""\n}' },
    renderGraphiQL,
    logging: 'warn',
    context: ({ viewer, requestId, signal, origin, chargeWidget }) => ({ viewer, requestId, signal, origin, chargeWidget, services, prisma }),
    plugins: [
      useQueryShapeLimit(),
      EnvelopArmorPlugin({
        maxDepth: { n: 10, ignoreIntrospection: true },
        maxAliases: { n: 15 },
        maxTokens: { n: 2000 },
        costLimit: { maxCost: 5000 },
        maxDirectives: { n: 20 },
      }),
      useInputGuard(),
      useAuthFailureReport(),
      useDirectDeltas(),
      ...plugins,
    ],
  });
}

export type YogaServer = ReturnType<typeof createYogaServer>;
