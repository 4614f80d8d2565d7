// The OpenAPI 3.1 document served at GET /api/v1/openapi.json: every REST
// route of the table (src/openapi/rest-paths.ts derives them), the surfaces
// outside it (src/openapi/other-paths.ts), the envelopes, the error replies
// of the error-code table (src/errors.ts), and the ways to authenticate.
import { STATUS_CODES } from 'node:http';
import packageJson from '../../package.json' with { type: 'json' };
import { ErrorCode } from '../errors.ts';
import { routes as restRoutes, type Route } from '../rest/routes.ts';
import { schema as graphqlSchema } from '../schema/index.ts';
import type { JsonSchema, SchemaRegistry } from './json-schema.ts';
import { otherPaths } from './other-paths.ts';
import { restOperation } from './rest-paths.ts';

/** What each refusal means here, for every route that can answer it. */
const REFUSALS: Record<number, string> = {
  400: 'The body is not a JSON object (malformed JSON, empty, or an array).',
  401: 'Missing or wrong credentials; for the widget-token endpoint, an unknown or inactive client_id.',
  403: 'A widget token asked for something outside its rights, or the page’s origin is not allowed for the organization.',
  404: 'No such record in your organization (an id in the path or the body), or no such endpoint.',
  405: 'The path exists but not with this method (`Allow` lists the methods).',
  409: 'The request conflicts with the record’s state, such as an inactive assistant; `detail` says what to change.',
  413: 'The body or file is over the limit named in `detail`.',
  415: 'Unsupported Content-Type or file type.',
  422: 'A field is missing, of the wrong type or out of range; `data.errors` names each one.',
  429: 'Over a rate limit; `Retry-After` says when to retry.',
  503: 'The model or the reply queue is unavailable, or the server is stopping; `Retry-After` where a retry can help.',
};

function errorResponses(): Record<string, unknown> {
  const statuses = [...new Set(Object.values(ErrorCode))].sort();
  return Object.fromEntries(
    statuses.map((status) => [
      `Error${status}`,
      {
        description: REFUSALS[status] ?? STATUS_CODES[status],
        ...(status === 429 || status === 503 ? { headers: { 'Retry-After': { $ref: '#/components/headers/Retry-After' } } } : {}),
        content: {
          'application/json': {
            schema: { $ref: status === 422 ? '#/components/schemas/ValidationErrorEnvelope' : '#/components/schemas/ErrorEnvelope' },
            example: { status: 'error', status_code: status, detail: REFUSALS[status] ?? STATUS_CODES[status], data: status === 422 ? { errors: [{ field: 'name', message: 'is required' }] } : null },
          },
        },
      },
    ]),
  );
}

const ENVELOPES: Record<string, JsonSchema> = {
  ErrorEnvelope: {
    type: 'object',
    description: 'Every REST error.',
    required: ['status', 'status_code', 'detail', 'data'],
    properties: {
      status: { const: 'error' },
      status_code: { type: 'integer' },
      detail: { type: 'string', description: 'What went wrong and how to fix it.' },
      data: { type: 'null' },
    },
  },
  ValidationErrorEnvelope: {
    type: 'object',
    description: 'A 422: the error envelope with each field at fault.',
    required: ['status', 'status_code', 'detail', 'data'],
    properties: {
      status: { const: 'error' },
      status_code: { const: 422 },
      detail: { type: 'string' },
      data: {
        type: 'object',
        required: ['errors'],
        properties: {
          errors: {
            type: 'array',
            items: {
              type: 'object',
              required: ['field', 'message'],
              properties: { field: { type: 'string', description: 'Dotted path, e.g. cases.0.question.' }, message: { type: 'string' } },
            },
          },
        },
      },
    },
  },
  OpenAiError: {
    type: 'object',
    description: "OpenAI's error shape.",
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: ['string', 'null'] }, code: { type: ['string', 'null'] } },
      },
    },
  },
  JsonRpcError: {
    type: 'object',
    properties: {
      jsonrpc: { const: '2.0' },
      error: { type: 'object', properties: { code: { type: 'integer' }, message: { type: 'string' } } },
      id: { type: 'null' },
    },
  },
  Readiness: {
    type: 'object',
    properties: {
      status: { enum: ['ready', 'not ready'] },
      detail: { type: 'string' },
      checks: {
        type: 'array',
        items: { type: 'object', properties: { name: { enum: ['database', 'migrations', 'ollama'] }, ok: { type: 'boolean' }, detail: { type: 'string' } } },
      },
    },
  },
};

const SECURITY_SCHEMES = {
  ApiKeyId: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: "Your organization's client id (sent with X-API-Secret)." },
  ApiKeySecret: { type: 'apiKey', in: 'header', name: 'X-API-Secret', description: "Your organization's client secret (sent with X-API-Key)." },
  ApiKeyBearer: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'CLIENT_ID:CLIENT_SECRET',
    description: 'The API key as one Bearer token, `Authorization: Bearer CLIENT_ID:CLIENT_SECRET` (the openai SDK’s apiKey).',
  },
  WidgetToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A widget token from POST /api/v1/auth/widget-token (one hour), for browsers: no secret in the page.',
  },
  MetricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN, when the server sets it.' },
};

const HEADERS = {
  'X-RateLimit-Limit': { description: 'Requests allowed per window.', schema: { type: 'integer' } },
  'X-RateLimit-Remaining': { description: 'Requests left in this window.', schema: { type: 'integer' } },
  'X-RateLimit-Reset': { description: 'When the window resets (Unix time, seconds).', schema: { type: 'integer' } },
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' } },
};

const DESCRIPTION = `Assistant personas, a knowledge base and chat, over REST (\`/api/v1\`), GraphQL (\`/graphql\`), an OpenAI-compatible API (\`/v1\`) and MCP (\`/mcp\`).

**Credentials.** \`X-API-Key\` (client id) with \`X-API-Secret\` (client secret), or both as \`Authorization: Bearer CLIENT_ID:CLIENT_SECRET\`. Browsers use a widget token (\`Authorization: Bearer <jwt>\`) from \`POST /api/v1/auth/widget-token\`, which needs only the client id.

**Replies.** Success: \`{"status": "success", "status_code": N, "detail": "...", "data": ...}\`; errors: \`{"status": "error", "status_code": N, "detail": "...", "data": null}\` (a 422 lists the fields in \`data.errors\`). Lists take \`limit\` (1–100, default 20) and \`offset\`, and answer \`{items, total, limit, offset}\`. Field names are snake_case. Paths work with or without a trailing slash.

**Rate limits.** Per organization (1000 requests per hour by default); the \`X-RateLimit-*\` and \`RateLimit\` headers say what is left; over it, 429 with \`Retry-After\`.`;

/** The document for a route table (the server's own, or a test's). */
export function buildOpenApiDocument(routes: Route[] = restRoutes): Record<string, unknown> {
  const registry: SchemaRegistry = new Map();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const { path, method, operation } = restOperation(route, graphqlSchema, registry);
    (paths[path] ??= {})[method] = operation;
  }
  Object.assign(paths, otherPaths());
  const tags = [...new Set(Object.values(paths).flatMap((item) => Object.values(item).flatMap((op) => (op as { tags: string[] }).tags)))];
  return {
    openapi: '3.1.0',
    info: { title: 'Assistant gateway API', version: packageJson.version, description: DESCRIPTION, license: { name: 'MIT', identifier: 'MIT' } },
    servers: [{ url: '/', description: 'This server' }],
    tags: tags.map((name) => ({ name })),
    paths,
    components: {
      schemas: { ...ENVELOPES, ...Object.fromEntries([...registry].sort(([a], [b]) => a.localeCompare(b))) },
      responses: errorResponses(),
      headers: HEADERS,
      securitySchemes: SECURITY_SCHEMES,
    },
  };
}

let cached: string | null = null;

/** The server's document as JSON text: the table and the schema are fixed for the life of the process. */
export function openApiJson(): string {
  return (cached ??= JSON.stringify(buildOpenApiDocument()));
}
