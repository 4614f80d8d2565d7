// Child-process entry: the baseline. A bare graphql-yoga server (defaults, no
// auth, no limits, no envelope) on node:http answering a trivial query
// (`{ hello }`) and the same 20-assistant list the gateway serves, from the
// same PGlite data (a copy of the gateway's DATA_DIR) through the same
// Prisma client. BENCH_ORG_ID names the organization whose assistants it lists.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSchema, createYoga } from 'graphql-yoga';
import { openDatabase } from '../../src/db/database.ts';

const dataDir = process.env.BENCH_DATA_DIR;
const organizationId = process.env.BENCH_ORG_ID;
if (!dataDir || !organizationId) throw new Error('BENCH_DATA_DIR and BENCH_ORG_ID are required.');

const db = await openDatabase({ dataDir });
const { prisma } = db;

const schema = createSchema({
  typeDefs: /* GraphQL */ `
    scalar JSON
    type Assistant {
      id: ID!
      name: String!
      description: String!
      tone: String!
      language: String!
      defaultTasks: [String!]!
      isActive: Boolean!
      model: String
      temperature: Float
      maxTokens: Int
      metadata: JSON!
      createdAt: String!
      updatedAt: String!
    }
    type AssistantPage {
      items: [Assistant!]!
      total: Int!
      limit: Int!
      offset: Int!
    }
    type Query {
      hello: String!
      assistants(limit: Int = 20, offset: Int = 0): AssistantPage!
    }
  `,
  resolvers: {
    Query: {
      hello: () => 'world',
      // The same two statements as the gateway's list (src/services/assistant.ts, findPage).
      assistants: async (_: unknown, { limit, offset }: { limit: number; offset: number }) => {
        const where = { organizationId };
        const [items, total] = await Promise.all([
          prisma.assistant.findMany({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], take: limit, skip: offset }),
          prisma.assistant.count({ where }),
        ]);
        return { items, total, limit, offset };
      },
    },
    Assistant: {
      createdAt: (row: { createdAt: Date }) => row.createdAt.toISOString(),
      updatedAt: (row: { updatedAt: Date }) => row.updatedAt.toISOString(),
    },
  },
});

const yoga = createYoga({ schema, logging: false, graphiql: false, landingPage: false });
const server = createServer(yoga);
server.keepAliveTimeout = 65_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
console.log(`bare yoga listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);

const stop = () => {
  server.closeAllConnections();
  server.close(() => db.close().then(() => process.exit(0), () => process.exit(1)));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
