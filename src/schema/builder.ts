// Configures Pothos; defines no types. Each domain registers its own types in
// src/schema/<domain>.ts, and src/schema/index.ts assembles the schema.
import SchemaBuilder from '@pothos/core';
import PrismaPlugin from '@pothos/plugin-prisma';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError, Kind, type ValueNode } from 'graphql';
import type PrismaTypes from '../../generated/pothos-types.ts';
import { getDatamodel } from '../../generated/pothos-types.ts';
import type { Context } from '../context.ts';
import { AppError } from '../errors.ts';

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  AuthScopes: {
    /** Any authenticated caller: API keys or a widget token. */
    viewer: boolean;
    /** The organization's own API keys (client id and secret). */
    apiKey: boolean;
  };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
    JSONObject: { Input: Record<string, unknown>; Output: unknown };
    File: { Input: File; Output: never };
  };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin, PrismaPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    // Subscriptions are checked when they start, before their subscribe function runs.
    authorizeOnSubscribe: true,
    authScopes: (context) => ({
      viewer: context.viewer !== null,
      apiKey: context.viewer?.kind === 'apiKey',
    }),
    // Scope failures carry a stable code, so REST can answer 401 or 403 from it.
    unauthorizedError: (_parent, context) =>
      context.viewer === null
        ? new AppError('UNAUTHENTICATED', 'Authentication required: send X-API-Key and X-API-Secret, or Authorization: Bearer <widget token>.')
        : new AppError('FORBIDDEN', 'A widget token cannot do this; use the organization\'s API key and secret.'),
  },
  prisma: {
    client: (context) => context.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    filterConnectionTotalCount: true,
    onUnusedQuery: null,
  },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

builder.scalarType('DateTime', {
  description: 'An ISO 8601 timestamp in UTC.',
  serialize: (value) => (value instanceof Date ? value : new Date(value as string)).toISOString(),
  parseValue: (value) => {
    const date = typeof value === 'string' ? new Date(value) : null;
    if (!date || Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO 8601 string.');
    return date;
  },
});

function literalValue(node: ValueNode, variables?: Record<string, unknown> | null): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map((value) => literalValue(value, variables));
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((field) => [field.name.value, literalValue(field.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[node.name.value];
    default:
      throw new GraphQLError('Unsupported JSON literal.');
  }
}

builder.scalarType('JSON', {
  description: 'Any JSON value.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (node, variables) => literalValue(node, variables),
});

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

builder.scalarType('JSONObject', {
  description: 'A JSON object (not an array or a scalar).',
  serialize: (value) => value,
  parseValue: (value) => {
    if (!isObject(value)) throw new GraphQLError('must be a JSON object');
    return value;
  },
  parseLiteral: (node, variables) => {
    const value = literalValue(node, variables);
    if (!isObject(value)) throw new GraphQLError('must be a JSON object');
    return value;
  },
});

/** Something that can be read like a File (Node's and the ponyfills' classes differ, so the shape decides). */
const isFile = (value: unknown): value is File =>
  typeof value === 'object' && value !== null && typeof (value as File).arrayBuffer === 'function' && typeof (value as File).size === 'number';

builder.scalarType('File', {
  description: 'An uploaded file (GraphQL multipart request).',
  serialize: () => {
    throw new GraphQLError('File is an input-only scalar.');
  },
  parseValue: (value) => {
    if (!isFile(value)) throw new GraphQLError('must be an uploaded file (multipart request)');
    return value;
  },
});
