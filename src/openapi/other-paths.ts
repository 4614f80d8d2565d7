// The OpenAPI operations of the surfaces outside the REST route table: the
// OpenAI-compatible API (/v1), the MCP server (/mcp), GraphQL, health,
// readiness, metrics and the index. Their request bodies come from the
// schemas that check them (the chat request's zod schema); the test that
// validates the document sends a request to every path here and fails when
// one is not served.
import { z } from 'zod';
import { chatRequestSchema } from '../openai/chat-request.ts';
import { OPENAI_PREFIX } from '../openai/surface.ts';
import { MCP_PATH } from '../mcp/surface.ts';
import { snakeCase } from '../rest/envelope.ts';
import { GRAPHQL_PATH } from '../yoga.ts';
import type { JsonSchema } from './json-schema.ts';

const json = (schema: JsonSchema, description: string) => ({ description, content: { 'application/json': { schema } } });
const openAiError = (description: string) => json({ $ref: '#/components/schemas/OpenAiError' }, description);

/** The zod schema's JSON Schema, with the top-level keys as a client sends them (snake_case). */
function requestSchema(): JsonSchema {
  const { $schema: _, ...schema } = z.toJSONSchema(chatRequestSchema, { target: 'draft-2020-12', io: 'input' }) as JsonSchema;
  const properties = schema.properties as Record<string, JsonSchema>;
  return {
    ...schema,
    properties: Object.fromEntries(Object.entries(properties).map(([key, value]) => [snakeCase(key), value])),
    required: (schema.required as string[]).map(snakeCase),
  };
}

const source = {
  type: 'object',
  description: 'A passage the reply was grounded in.',
  required: ['source_id', 'kind', 'title', 'url', 'snippet', 'score'],
  properties: {
    source_id: { type: 'string' },
    kind: { enum: ['file', 'qa', 'url'] },
    title: { type: 'string' },
    url: { type: ['string', 'null'] },
    snippet: { type: 'string' },
    score: { type: 'number' },
  },
};
const usage = {
  type: 'object',
  required: ['prompt_tokens', 'completion_tokens', 'total_tokens'],
  properties: { prompt_tokens: { type: 'integer' }, completion_tokens: { type: 'integer' }, total_tokens: { type: 'integer' } },
};
const model = {
  type: 'object',
  description: 'An active assistant of the organization.',
  properties: {
    id: { type: 'string', description: "The assistant's id." },
    object: { const: 'model' },
    created: { type: 'integer', description: 'Unix time in seconds.' },
    owned_by: { type: 'string' },
    name: { type: 'string' },
    description: { type: 'string' },
  },
  required: ['id', 'object', 'created', 'owned_by'],
};
const completion = {
  type: 'object',
  required: ['id', 'object', 'created', 'model', 'conversation_id', 'choices', 'usage'],
  properties: {
    id: { type: 'string' },
    object: { const: 'chat.completion' },
    created: { type: 'integer' },
    model: { type: 'string' },
    conversation_id: { type: 'string', description: 'The stored conversation that holds the exchange.' },
    choices: {
      type: 'array',
      items: {
        type: 'object',
        required: ['index', 'message', 'finish_reason'],
        properties: {
          index: { type: 'integer' },
          message: {
            type: 'object',
            required: ['role', 'content', 'sources'],
            properties: {
              role: { const: 'assistant' },
              content: { type: 'string' },
              refusal: { type: 'null' },
              sources: { type: 'array', items: source, description: 'Not in OpenAI’s API: the passages the reply was grounded in.' },
            },
          },
          finish_reason: { type: 'string' },
        },
      },
    },
    usage,
  },
};

const OPENAI_SECURITY = [{ ApiKeyBearer: [] }];
const openAiErrors = {
  '401': openAiError('No API key, or a wrong one (code invalid_api_key).'),
  '429': openAiError('Over the organization’s rate limit (Retry-After says when to retry).'),
};

export function otherPaths(): Record<string, Record<string, unknown>> {
  return {
    [`${OPENAI_PREFIX}/models`]: {
      get: {
        operationId: 'listModels',
        tags: ['OpenAI-compatible'],
        summary: 'List models (the active assistants)',
        description: 'OpenAI-compatible: base URL `http://HOST:PORT/v1`, API key `CLIENT_ID:CLIENT_SECRET`.',
        security: OPENAI_SECURITY,
        responses: { '200': json({ type: 'object', properties: { object: { const: 'list' }, data: { type: 'array', items: model } } }, 'The models.'), ...openAiErrors },
      },
    },
    [`${OPENAI_PREFIX}/models/{id}`]: {
      get: {
        operationId: 'getModel',
        tags: ['OpenAI-compatible'],
        summary: 'Get a model (an active assistant)',
        security: OPENAI_SECURITY,
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: "The assistant's id." }],
        responses: { '200': json(model, 'The model.'), '404': openAiError('No active assistant with this id (code model_not_found).'), ...openAiErrors },
      },
    },
    [`${OPENAI_PREFIX}/chat/completions`]: {
      post: {
        operationId: 'createChatCompletion',
        tags: ['OpenAI-compatible'],
        summary: 'Chat with an assistant (OpenAI chat completions)',
        description:
          'Answers as the assistant named by `model`, grounded in the knowledge base. With `stream: true`, `chat.completion.chunk` server-sent events ending with `data: [DONE]`; the chunk with `finish_reason` carries `sources` in its delta. Sampling settings are accepted and left to the assistant.',
        security: OPENAI_SECURITY,
        requestBody: { required: true, content: { 'application/json': { schema: requestSchema() } } },
        responses: {
          '200': {
            description: 'The reply (or its chunks, when streamed).',
            content: {
              'application/json': { schema: completion },
              'text/event-stream': { schema: { type: 'string', description: '`data: {chat.completion.chunk}` lines, then `data: [DONE]`.' } },
            },
          },
          '400': openAiError('The body is not a JSON object.'),
          '404': openAiError('`model` is not an active assistant (code model_not_found).'),
          '413': openAiError('The body is over the size limit.'),
          '415': openAiError('The body is not JSON.'),
          '422': openAiError('A field is missing or wrong; `param` names it.'),
          '503': openAiError('The model is unavailable or busy (Retry-After).'),
          ...openAiErrors,
        },
      },
    },
    [MCP_PATH]: {
      post: {
        operationId: 'mcp',
        tags: ['MCP'],
        summary: 'MCP server (Streamable HTTP, stateless)',
        description:
          'A JSON-RPC message of the Model Context Protocol, answered with JSON. Tools: list_assistants, search_knowledge (passages with their sources) and ask_assistant (a grounded reply with its sources). Point an MCP client at `http://HOST:PORT/mcp` with the API key as headers or as a Bearer token.',
        security: [{ ApiKeyId: [], ApiKeySecret: [] }, { ApiKeyBearer: [] }],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', properties: { jsonrpc: { const: '2.0' }, method: { type: 'string' } } } } } },
        responses: {
          '200': json({ type: 'object' }, 'The JSON-RPC answer.'),
          '401': json({ $ref: '#/components/schemas/JsonRpcError' }, 'No API key, or a wrong one.'),
          '429': json({ $ref: '#/components/schemas/JsonRpcError' }, 'Over the rate limit.'),
        },
      },
    },
    [GRAPHQL_PATH]: {
      post: {
        operationId: 'graphql',
        tags: ['GraphQL'],
        summary: 'GraphQL (queries, mutations, subscriptions over SSE)',
        description: 'The API every REST route runs on. GET in a browser opens GraphiQL; WebSocket (graphql-ws) on the same path. The schema is `schema.graphql` in the repository.',
        security: [{ ApiKeyId: [], ApiKeySecret: [] }, { ApiKeyBearer: [] }, { WidgetToken: [] }],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { type: 'object', required: ['query'], properties: { query: { type: 'string' }, variables: { type: 'object' } } } } },
        },
        responses: { '200': json({ type: 'object', properties: { data: {}, errors: { type: 'array' } } }, 'The result.') },
      },
    },
    '/healthz': {
      get: {
        operationId: 'healthz',
        tags: ['Operations'],
        summary: 'Liveness: the process serves',
        security: [],
        responses: { '200': json({ type: 'object', properties: { status: { const: 'ok' } } }, 'Serving.') },
      },
    },
    '/readyz': {
      get: {
        operationId: 'readyz',
        tags: ['Operations'],
        summary: 'Readiness: database, migrations, Ollama and its models',
        security: [],
        responses: {
          '200': json({ $ref: '#/components/schemas/Readiness' }, 'Ready.'),
          '503': json({ $ref: '#/components/schemas/Readiness' }, 'Not ready; `detail` names what is missing and how to fix it.'),
        },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        tags: ['Operations'],
        summary: 'Prometheus metrics',
        description: 'When METRICS_TOKEN is set, it is required as a Bearer token.',
        security: [{}, { MetricsToken: [] }],
        responses: {
          '200': { description: 'Prometheus text format.', content: { 'text/plain': { schema: { type: 'string' } } } },
          '401': { $ref: '#/components/responses/Error401' },
        },
      },
    },
    '/': {
      get: {
        operationId: 'index',
        tags: ['Operations'],
        summary: 'Where everything is',
        security: [],
        responses: { '200': json({ type: 'object', additionalProperties: { type: 'string' } }, 'The paths of each API.') },
      },
    },
  };
}
