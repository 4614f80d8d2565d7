// The OpenAPI operations of the REST API, one per entry of the route table
// (src/rest/routes.ts): parameters and bodies from the variables the route
// maps (typed by the operation's variable definitions and the schema's input
// types), replies from the operation's selection set as the route shapes
// them, security from the root field's auth scopes, and the refusals a route
// of its kind can answer. A route added to the table appears here by itself.
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  Kind,
  typeFromAST,
  type ArgumentNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type NamedTypeNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type VariableDefinitionNode,
} from 'graphql';
import { EVENT_STREAM_FORMAT } from '../rest/event-stream.ts';
import { REST_PREFIX } from '../rest/handler.ts';
import { snakeCase } from '../rest/envelope.ts';
import type { Route } from '../rest/routes.ts';
import { described, selectionSchema, variableSchema, withoutNull, type JsonSchema, type SchemaRegistry } from './json-schema.ts';
import { probeReply, probeVariables } from './route-probe.ts';

/** An OpenAPI path with {name} parameters, from a route's /:name pattern. */
export const openApiPath = (route: Pick<Route, 'path'>) => `${REST_PREFIX}${route.path.replace(/:(\w+)/g, '{$1}')}`;

const words = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
const pascal = (text: string) => text.replace(/(^|[^a-zA-Z0-9]+)([a-zA-Z0-9])/g, (_, __, c: string) => c.toUpperCase());

/** getAssistantsById, postKnowledgeUrlsByIdSync: unique for each method and path. */
export const operationIdOf = (method: string, path: string) =>
  method.toLowerCase() + path.split('/').filter(Boolean).map((part) => (part.startsWith(':') || part.startsWith('{') ? `By${pascal(part.replace(/[:{}]/g, ''))}` : pascal(part))).join('');

function parts(document: DocumentNode) {
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  const fragments = new Map(
    document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
  );
  return { operation, fragments };
}

function rootType(schema: GraphQLSchema, operation: OperationDefinitionNode): GraphQLObjectType {
  const type = { query: schema.getQueryType(), mutation: schema.getMutationType(), subscription: schema.getSubscriptionType() }[operation.operation];
  if (!type) throw new Error(`The schema has no ${operation.operation} type`);
  return type;
}

/** Every argument bound to a variable, with the field's definition of it (for its description). */
function boundArguments(parent: GraphQLObjectType, set: SelectionSetNode, found = new Map<string, string>()): Map<string, string> {
  for (const selection of set.selections) {
    if (selection.kind !== Kind.FIELD) continue;
    const field = parent.getFields()[selection.name.value];
    if (!field) continue;
    for (const argument of selection.arguments ?? ([] as readonly ArgumentNode[])) {
      const definition = field.args.find((arg) => arg.name === argument.name.value);
      if (argument.value.kind === Kind.VARIABLE && definition?.description) found.set(argument.value.name.value, definition.description);
    }
    const named = getNamedType(field.type);
    if (selection.selectionSet && 'getFields' in named && !isInputObjectType(named)) boundArguments(named as GraphQLObjectType, selection.selectionSet, found);
  }
  return found;
}

/** Who may call: the root field's auth scopes (src/schema), as OpenAPI security requirements. */
function securityOf(field: GraphQLField<unknown, unknown>): Array<Record<string, string[]>> {
  const scopes = (field.extensions as { pothosOptions?: { authScopes?: Record<string, unknown> } }).pothosOptions?.authScopes;
  if (!scopes) return [];
  const apiKey: Array<Record<string, string[]>> = [{ ApiKeyId: [], ApiKeySecret: [] }, { ApiKeyBearer: [] }];
  return scopes.viewer ? [...apiKey, { WidgetToken: [] }] : apiKey;
}

/** The route's group in the reference: its first path segment (Assistants, Knowledge...). */
const tagOf = (route: Route) => route.path.split('/').filter(Boolean)[0].replace(/^./, (c) => c.toUpperCase());

const errorRef = (status: number) => ({ $ref: `#/components/responses/Error${status}` });

export type RouteOperation = { path: string; method: string; operation: Record<string, unknown> };

export function restOperation(route: Route, schema: GraphQLSchema, registry: SchemaRegistry): RouteOperation {
  // A route that answers only with server-sent events is described by its stream's operation.
  const { operation, fragments } = parts((route.document ?? route.streamDocument)!);
  const root = rootType(schema, operation);
  const rootFields = operation.selectionSet.selections.filter((s): s is FieldNode => s.kind === Kind.FIELD).map((s) => root.getFields()[s.name.value]);
  const sources = probeVariables(route);
  const definitions = new Map((operation.variableDefinitions ?? []).map((d) => [d.variable.name.value, d]));
  const descriptions = boundArguments(root, operation.selectionSet);
  const typed = (variable: string) => {
    const definition = definitions.get(variable);
    if (!definition) throw new Error(`${route.method} ${route.path}: the route sets $${variable}, which ${operation.name?.value} does not declare`);
    return variableSchema(schema, definition.type, registry);
  };

  const parameters: JsonSchema[] = [];
  const bodyFields: Array<{ name: string; schema: JsonSchema; required: boolean }> = [];
  let wholeBody: JsonSchema | null = null;
  /** Enums the route fixes (kind: file), by enum name, so that the sample result has them too. */
  const fixed = new Map<string, unknown>(Object.entries(route.openapi?.enums ?? {}));
  const fixedNotes: string[] = [];
  for (const [variable, source] of sources) {
    if (source.from === 'fixed') {
      const definition = definitions.get(variable);
      const type = definition && namedTypeOf(schema, definition);
      if (type && isEnumType(type)) fixed.set(type.name, source.value);
      fixedNotes.push(`${variable}: ${String(source.value)}`);
      continue;
    }
    const { schema: variableType, required } = typed(variable);
    const description = descriptions.get(variable);
    if (source.from === 'path' || source.from === 'query') {
      // A parameter is text that is there or not: never null.
      const value = withoutNull(variableType);
      parameters.push({ name: source.name, in: source.from, required: source.from === 'path' || required, schema: value, ...(description ? { description } : {}) });
    } else if (source.from === 'body') {
      wholeBody = described(variableType, description);
    } else {
      bodyFields.push({ name: snakeCase(source.name), schema: described(variableType, description), required });
    }
  }
  for (const header of route.openapi?.headers ?? []) parameters.push({ name: header.name, in: 'header', required: false, schema: { type: 'string' }, description: header.description });
  // A path parameter no variable takes is still part of the path.
  for (const name of route.path.split('/').filter((p) => p.startsWith(':')).map((p) => p.slice(1))) {
    if (!parameters.some((p) => p.in === 'path' && p.name === name)) parameters.push({ name, in: 'path', required: true, schema: { type: 'string' } });
  }

  const resultSchema = selectionSchema(root, operation.selectionSet, fragments, schema, registry);
  const reply = probeReply(route, resultSchema, fixed);

  const bodySchema: JsonSchema | null =
    wholeBody ??
    (bodyFields.length
      ? {
          type: 'object',
          properties: Object.fromEntries(bodyFields.map((f) => [f.name, f.schema])),
          required: bodyFields.filter((f) => f.required).map((f) => f.name),
        }
      : null);
  const mediaType = route.body === 'multipart' ? 'multipart/form-data' : 'application/json';

  const replyContent = (status: number, detail: string) =>
    route.bare
      ? reply.schema
      : {
          type: 'object',
          required: ['status', 'status_code', 'detail', 'data'],
          properties: {
            status: { const: 'success' },
            status_code: { const: status },
            detail: { type: 'string', examples: [detail] },
            data: reply.schema,
          },
        };
  const security = rootFields.length ? securityOf(rootFields[0]) : [];
  const responses: Record<string, unknown> = {};
  for (const { status, detail } of reply.outcomes) {
    const content: Record<string, unknown> = route.document ? { 'application/json': { schema: replyContent(status, detail) } } : {};
    if (route.streamDocument) content['text/event-stream'] = { schema: { type: 'string', description: EVENT_STREAM_FORMAT } };
    responses[String(status)] = { description: detail, ...(security.length ? { headers: RATE_LIMIT_HEADERS } : {}), content };
  }
  const errors = new Set<number>([401, 429, ...(route.openapi?.errors ?? [])]);
  if (!security.length || security.some((s) => 'WidgetToken' in s)) errors.add(403);
  if (route.body) [400, 413, 415].forEach((s) => errors.add(s));
  if (parameters.some((p) => p.in === 'query') || bodySchema) errors.add(422);
  // A path names a record, and so does an id in the body (assistant_id): unknown or another organization's, 404.
  if (route.path.includes(':') || [...sources].some(([variable, source]) => source.from.startsWith('body') && namesRecord(schema, definitions.get(variable)))) {
    errors.add(404);
  }
  if (route.streamDocument) errors.add(503);
  for (const status of [...errors].sort()) responses[String(status)] = errorRef(status);

  const name = operation.name?.value.replace(/^Rest/, '') ?? route.path;
  const summary = route.openapi?.summary ?? `${words(name).replace(/^./, (c) => c.toUpperCase())}${fixedNotes.length ? ` (${fixedNotes.join(', ')})` : ''}`;
  const description = [
    ...rootFields.map((field) => field?.description).filter(Boolean),
    route.openapi?.description,
    route.streamDocument ? 'Send `Accept: text/event-stream` to receive the reply as server-sent events while it is generated.' : undefined,
    'A trailing slash on the path is accepted.',
  ]
    .filter(Boolean)
    .join('\n\n');

  return {
    path: openApiPath(route),
    method: route.method.toLowerCase(),
    operation: {
      operationId: operationIdOf(route.method, route.path),
      summary,
      description,
      tags: [tagOf(route)],
      security,
      ...(parameters.length ? { parameters } : {}),
      ...(bodySchema ? { requestBody: { required: true, content: { [mediaType]: { schema: bodySchema } } } } : {}),
      responses,
    },
  };
}

const namedTypeOf = (schema: GraphQLSchema, definition: VariableDefinitionNode): GraphQLNamedType | undefined => {
  const type = typeFromAST(schema, definition.type as NamedTypeNode) as GraphQLInputType | undefined;
  return type && getNamedType(type);
};

/** Whether a body variable is an ID, or an input object with one (an assistant_id that must exist). */
function namesRecord(schema: GraphQLSchema, definition: VariableDefinitionNode | undefined): boolean {
  const type = definition && namedTypeOf(schema, definition);
  if (!type) return false;
  if (type.name === 'ID') return true;
  return isInputObjectType(type) && Object.values(type.getFields()).some((field) => getNamedType(field.type).name === 'ID');
}

/** The rate-limit headers of every counted response (src/http/rate-limit.ts). */
export const RATE_LIMIT_HEADERS = {
  'X-RateLimit-Limit': { $ref: '#/components/headers/X-RateLimit-Limit' },
  'X-RateLimit-Remaining': { $ref: '#/components/headers/X-RateLimit-Remaining' },
  'X-RateLimit-Reset': { $ref: '#/components/headers/X-RateLimit-Reset' },
};

