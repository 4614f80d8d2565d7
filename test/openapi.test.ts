// The API reference as an integrator meets it: an OpenAPI 3.1 document that
// validates, lists every path of the API (and nothing the server does not
// serve), and describes the replies the server really sends; a docs page
// that renders it offline from the npm package's own bundle.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { validate, compileErrors } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildOpenApiDocument } from '../src/openapi/document.ts';
import { routes, type Route } from '../src/rest/routes.ts';
import * as op from '../src/rest/operations.generated.ts';
import { SEED_ASSISTANT } from './fixtures/seed.ts';
import { createTestApp, type TestApp } from './utils/app.ts';

let t: TestApp;
let doc: any;
beforeAll(async () => {
  t = await createTestApp();
  doc = (await t.json('GET', '/api/v1/openapi.json', { auth: null })).body;
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];
const operationsOf = (document: any) =>
  Object.entries<any>(document.paths).flatMap(([path, item]) => Object.keys(item).filter((m) => METHODS.includes(m)).map((method) => `${method.toUpperCase()} ${path}`));
const tableOperations = (table: Route[]) => table.map((route) => `${route.method} /api/v1${route.path.replace(/:(\w+)/g, '{$1}')}`);
/** The reference's own paths, and the pages that render it. */
const REFERENCE_PAGES = ['GET /api/v1/openapi.json', 'GET /api/v1/docs'];

/** A validator for one reply schema of the document, its $refs resolved against the document's components. */
function validatorFor(schema: unknown) {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema({ $id: 'openapi.json', components: doc.components });
  return ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi.json#/components/')));
}

function replySchema(method: string, path: string, status: number, type = 'application/json') {
  let response = doc.paths[path][method.toLowerCase()].responses[String(status)];
  if (response?.$ref) response = doc.components.responses[response.$ref.split('/').pop()];
  expect(response, `${method} ${path} documents ${status}`).toBeDefined();
  return response.content[type].schema;
}

/** Sends the request and checks the reply against the document's schema for its path and status. */
async function expectDocumented(method: string, request: string, documented: string, body?: unknown) {
  const reply = await t.json(method, request, { body });
  const check = validatorFor(replySchema(method, documented, reply.status));
  expect(check(reply.body), `${method} ${request} → ${reply.status}: ${JSON.stringify(check.errors)}`).toBe(true);
  return reply;
}

describe('GET /api/v1/openapi.json', () => {
  test('is an OpenAPI 3.1 document that @readme/openapi-parser validates', async () => {
    const reply = await t.request('GET', '/api/v1/openapi.json', { auth: null });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
    expect(reply.headers.get('cache-control')).toMatch(/max-age=\d+/);
    expect(reply.headers.get('x-ratelimit-remaining')).toBeNull(); // costs no budget
    expect(doc.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(doc));
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  test('lists every route of the REST table and no REST operation the table lacks', () => {
    const documented = operationsOf(doc).filter((o) => o.split(' ')[1].startsWith('/api/v1/') && !REFERENCE_PAGES.includes(o));
    expect(documented.sort()).toEqual(tableOperations(routes).sort());
  });

  test('a route added to the table appears in the document with its parameters, body and replies, and leaves with it', () => {
    const added: Route = {
      method: 'POST',
      path: '/assistants/:id/clone',
      document: op.RestUpdateAssistantDocument,
      body: true,
      variables: ({ params, body }) => ({ id: params.id, input: body }),
      reply: (data) => ({ status: 201, detail: 'Assistant cloned', data: data.result }),
    };
    const withIt = buildOpenApiDocument([...routes, added]) as any;
    const operation = withIt.paths['/api/v1/assistants/{id}/clone'].post;
    expect(operation.parameters).toEqual([expect.objectContaining({ name: 'id', in: 'path', required: true })]);
    expect(operation.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/UpdateAssistantInput' });
    expect(operation.responses['201'].description).toBe('Assistant cloned');
    expect(operation.responses['201'].content['application/json'].schema.properties.data.properties.default_tasks).toBeDefined();
    expect(operation.responses['404']).toEqual({ $ref: '#/components/responses/Error404' });
    // Query parameters are named as the route reads them, typed and described by the argument they feed.
    const history: Route = {
      method: 'GET',
      path: '/sessions/:id/history',
      document: op.RestListSessionMessagesDocument,
      variables: ({ params, query }) => ({ id: params.id, limit: query.get('page_size') ?? undefined }),
      reply: (data) => ({ status: 200, detail: 'History', data: data.session.result }),
    };
    const listed = (buildOpenApiDocument([...routes, history]) as any).paths['/api/v1/sessions/{id}/history'].get;
    expect(listed.parameters).toContainEqual({
      name: 'page_size',
      in: 'query',
      required: false,
      schema: { type: 'integer', format: 'int32' },
      description: 'Page size, 1 to 100 (default 20).',
    });
    expect(Object.keys(listed.responses['200'].content['application/json'].schema.properties.data.properties)).toEqual(['items', 'total', 'limit', 'offset']);
    const without = buildOpenApiDocument(routes.filter((route) => route.path !== '/contexts/:key')) as any;
    expect(without.paths['/api/v1/contexts/{key}']).toBeUndefined();
  });

  test("lists every path of the platform's API reference and what was added to it", () => {
    const operations = new Set(operationsOf(doc));
    for (const expected of [
      'GET /api/v1/assistants',
      'POST /api/v1/assistants',
      'POST /api/v1/sessions',
      'POST /api/v1/sessions/{id}/messages',
      'POST /api/v1/conversations',
      'POST /api/v1/conversations/{id}/messages',
      'POST /api/v1/contexts',
      'POST /api/v1/knowledge/files',
      'POST /api/v1/knowledge/qa',
      'POST /api/v1/knowledge/urls',
      'POST /api/v1/auth/widget-token',
      'POST /api/v1/knowledge/search',
      'POST /api/v1/knowledge/evaluations',
      'GET /v1/models',
      'POST /v1/chat/completions',
      'POST /mcp',
      'GET /healthz',
      'GET /readyz',
      'GET /metrics',
    ]) {
      expect(operations, expected).toContain(expected);
    }
  });

  test('every documented path outside the REST table is served (none answers as an unknown path)', async () => {
    for (const operation of operationsOf(doc)) {
      const [method, path] = operation.split(' ');
      if (path.startsWith('/api/v1/') && !REFERENCE_PAGES.includes(operation)) continue;
      const reply = await t.request(method, path.replace(/\{\w+\}/g, '00000000-0000-4000-8000-000000000000'), { auth: null, body: method === 'POST' ? {} : undefined });
      const text = await reply.text();
      expect(text, operation).not.toMatch(/There is no endpoint|Invalid URL/);
      expect([404, 405], `${operation} → ${reply.status}`).not.toContain(reply.status);
    }
  });

  test('names the three ways to authenticate, and each REST route the ones it takes', () => {
    const schemes = doc.components.securitySchemes;
    expect(schemes.ApiKeyId).toEqual(expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-API-Key' }));
    expect(schemes.ApiKeySecret).toEqual(expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-API-Secret' }));
    expect(schemes.ApiKeyBearer).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'CLIENT_ID:CLIENT_SECRET' }));
    expect(schemes.WidgetToken).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }));
    // The widget-token endpoint needs none; sessions take a widget token; knowledge needs the API key.
    expect(doc.paths['/api/v1/auth/widget-token'].post.security).toEqual([]);
    expect(doc.paths['/api/v1/sessions'].post.security).toContainEqual({ WidgetToken: [] });
    expect(doc.paths['/api/v1/knowledge/qa'].post.security).not.toContainEqual({ WidgetToken: [] });
    expect(doc.paths['/v1/chat/completions'].post.security).toEqual([{ ApiKeyBearer: [] }]);
  });

  test('describes parameters and bodies as the routes read them: snake_case fields, required ones, query types', () => {
    const create = doc.components.schemas.CreateAssistantInput;
    expect(create.required).toEqual(['name']);
    expect(Object.keys(create.properties)).toEqual(expect.arrayContaining(['default_tasks', 'is_active', 'max_tokens']));
    const list = doc.paths['/api/v1/assistants'].get.parameters;
    expect(list).toContainEqual(expect.objectContaining({ name: 'limit', in: 'query', schema: expect.objectContaining({ type: 'integer' }) }));
    expect(list).toContainEqual(expect.objectContaining({ name: 'is_active', in: 'query', schema: { type: 'boolean' } }));
    const upload = doc.paths['/api/v1/knowledge/files'].post.requestBody.content['multipart/form-data'].schema;
    expect(doc.components.schemas[upload.$ref.split('/').pop()].properties.file).toEqual(expect.objectContaining({ format: 'binary' }));
    const chat = doc.paths['/v1/chat/completions'].post.requestBody.content['application/json'].schema;
    expect(chat.required).toEqual(['model', 'messages']);
    expect(Object.keys(chat.properties)).toContain('stream_options');
    // Both replies of an upsert, from the flag the route reads.
    expect(Object.keys(doc.paths['/api/v1/contexts'].post.responses)).toEqual(expect.arrayContaining(['200', '201']));
  });

  test('the replies the server sends match the documented schemas, success and error alike', async () => {
    const created = await expectDocumented('POST', '/api/v1/assistants/', '/api/v1/assistants', SEED_ASSISTANT);
    expect(created.status).toBe(201);
    const id = created.body.data.id;
    await expectDocumented('GET', '/api/v1/assistants', '/api/v1/assistants');
    await expectDocumented('GET', `/api/v1/assistants/${id}`, '/api/v1/assistants/{id}');
    const session = await expectDocumented('POST', '/api/v1/sessions', '/api/v1/sessions', { assistant_id: id, visitor_id: 'visitor-123' });
    const sent = await expectDocumented('POST', `/api/v1/sessions/${session.body.data.id}/messages`, '/api/v1/sessions/{id}/messages', { content: 'Hello' });
    expect(sent.status).toBe(201);
    await expectDocumented('GET', `/api/v1/sessions/${session.body.data.id}/messages`, '/api/v1/sessions/{id}/messages');
    const qa = await expectDocumented('POST', '/api/v1/knowledge/qa', '/api/v1/knowledge/qa', { question: 'Hours?', answer: 'Nine to six.', tags: ['hours'] });
    expect(qa.status).toBe(202);
    await expectDocumented('GET', '/api/v1/knowledge/qa', '/api/v1/knowledge/qa');
    await expectDocumented('POST', '/api/v1/contexts', '/api/v1/contexts', { user_reference: 'user-456', traits: { name: 'John' } });
    const again = await expectDocumented('POST', '/api/v1/contexts', '/api/v1/contexts', { user_reference: 'user-456', traits: { tier: 'gold' } });
    expect(again.status).toBe(200);
    const conversation = await expectDocumented('POST', '/api/v1/conversations', '/api/v1/conversations', { assistant_id: id, customer_id: 'user-456', user_context_id: 'user-456' });
    await expectDocumented('POST', `/api/v1/conversations/${conversation.body.data.id}/messages`, '/api/v1/conversations/{id}/messages', { content: 'Track my order?' });
    await expectDocumented('POST', '/api/v1/knowledge/search', '/api/v1/knowledge/search', { query: 'When are you open?' });
    await expectDocumented('POST', '/api/v1/knowledge/evaluations', '/api/v1/knowledge/evaluations', {
      cases: [{ question: 'When are you open?', expected_source_id: qa.body.data.id }],
    });
    // Not enveloped, as documented.
    const token = await t.json('POST', '/api/v1/auth/widget-token', { auth: null, body: { client_id: t.org.clientId } });
    expect(validatorFor(replySchema('POST', '/api/v1/auth/widget-token', token.status))(token.body)).toBe(true);
    expect(token.body.token_type).toBe('Bearer');
    await expectDocumented('DELETE', `/api/v1/assistants/${id}`, '/api/v1/assistants/{id}');
    // Refusals: a missing field (422 with the field), an unknown id (404).
    const invalid = await expectDocumented('POST', '/api/v1/assistants', '/api/v1/assistants', { tone: 'friendly' });
    expect(invalid.status).toBe(422);
    const missing = await expectDocumented('GET', `/api/v1/assistants/${id}`, '/api/v1/assistants/{id}');
    expect(missing.status).toBe(404);
  });
});

describe('the surfaces outside the REST table', () => {
  test('answer as the document describes them: OpenAI models and completions, their errors, health and readiness', async () => {
    const assistant = (await t.json('POST', '/api/v1/assistants', { body: { name: 'Documented' } })).body.data.id;
    const bearer = { Authorization: `Bearer ${t.org.clientId}:${t.org.clientSecret}` };
    const check = async (method: string, path: string, documented: string, options: { body?: unknown; headers?: Record<string, string> } = {}) => {
      const reply = await t.json(method, path, { auth: null, ...options });
      const valid = validatorFor(replySchema(method, documented, reply.status));
      expect(valid(reply.body), `${method} ${path} → ${reply.status}: ${JSON.stringify(valid.errors)}`).toBe(true);
      return reply;
    };
    expect((await check('GET', '/v1/models', '/v1/models', { headers: bearer })).body.data[0].id).toBe(assistant);
    await check('GET', `/v1/models/${assistant}`, '/v1/models/{id}', { headers: bearer });
    const completion = await check('POST', '/v1/chat/completions', '/v1/chat/completions', {
      headers: bearer,
      body: { model: assistant, messages: [{ role: 'user', content: 'Hello' }] },
    });
    expect(completion.status).toBe(200);
    expect((await check('POST', '/v1/chat/completions', '/v1/chat/completions', { headers: bearer, body: { model: 'nope', messages: [] } })).status).toBe(404);
    expect((await check('GET', '/v1/models', '/v1/models', { headers: { Authorization: 'Bearer wrong:key' } })).status).toBe(401);
    await check('GET', '/healthz', '/healthz');
    await check('GET', '/readyz', '/readyz');
  });
});

describe('the index and unknown paths', () => {
  test('GET / lists each API, the docs page and the OpenAPI document', async () => {
    const { status, body } = await t.json('GET', '/', { auth: null });
    expect(status).toBe(200);
    expect(body).toMatchObject({ docs: '/api/v1/docs', openapi: '/api/v1/openapi.json', openai: '/v1', mcp: '/mcp', rest: '/api/v1/', graphql: '/graphql' });
  });

  test('an unknown path, at the root or under /api/v1, answers 404 pointing at the docs page', async () => {
    for (const path of ['/nowhere', '/api/v1/nowhere']) {
      const { status, body } = await t.json('GET', path, { auth: null });
      expect(status).toBe(404);
      expect(body).toMatchObject({ status: 'error', status_code: 404, data: null });
      expect(body.detail).toContain('/api/v1/docs');
    }
  });
});

const SCRIPT_FILE = fileURLToPath(new URL('browser/standalone.js', import.meta.resolve('@scalar/api-reference')));
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('GET /api/v1/docs', () => {
  test('serves the reference page, which loads the bundled renderer and points it at the OpenAPI document', async () => {
    for (const path of ['/api/v1/docs', '/api/v1/docs/']) {
      const reply = await t.request('GET', path, { auth: null });
      expect(reply.status).toBe(200);
      expect(reply.headers.get('content-type')).toMatch(/^text\/html/);
      expect(reply.headers.get('cache-control')).toMatch(/public, max-age=\d+/);
      const html = await reply.text();
      expect(html).toContain('<script src="/api/v1/docs/scalar.js"></script>');
      expect(html).toContain('"url":"/api/v1/openapi.json"');
      // Nothing is loaded from another host.
      expect(html).not.toMatch(/https?:\/\//);
    }
  });

  test("serves @scalar/api-reference's own browser bundle, cached and revalidated by its ETag, gzipped over HTTP", async () => {
    const { url } = await t.listen();
    const plain = await fetch(`${url}/api/v1/docs/scalar.js`, { headers: { 'Accept-Encoding': 'identity' } });
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(plain.headers.get('cache-control')).toMatch(/public, max-age=\d+/);
    const served = new Uint8Array(await plain.arrayBuffer());
    expect(sha256(served)).toBe(sha256(readFileSync(SCRIPT_FILE)));

    const etag = plain.headers.get('etag')!;
    const again = await fetch(`${url}/api/v1/docs/scalar.js`, { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);

    // node's fetch decompresses by itself; a raw request shows what travels.
    const { request } = await import('node:http');
    const raw = await new Promise<{ encoding?: string; body: Buffer }>((resolve, reject) => {
      request(`${url}/api/v1/docs/scalar.js`, { headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c)).on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
      })
        .on('error', reject)
        .end();
    });
    expect(raw.encoding).toBe('gzip');
    expect(raw.body.byteLength).toBeLessThan(served.byteLength / 2);
    expect(sha256(gunzipSync(raw.body))).toBe(sha256(served));
  }, 60_000);

  // Chromium from Debian's package; the test is skipped where it is not installed.
  test.skipIf(!existsSync('/usr/bin/chromium'))(
    'renders in headless Chromium with the operations of the document, offline',
    async () => {
      const { url } = await t.listen();
      const { stdout } = await promisify(execFile)(
        '/usr/bin/chromium',
        ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--virtual-time-budget=20000', '--dump-dom', `${url}/api/v1/docs`],
        { timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
      );
      // Rendered by the script (the page itself has only an empty #app): the title, the tags, the first operation.
      const shown = (text: string) => stdout.includes(text);
      expect(shown('Sidebar for Assistant gateway API'), 'the sidebar').toBe(true);
      for (const tag of ['assistants', 'sessions', 'knowledge', 'openai-compatible', 'mcp']) expect(shown(`data-sidebar-id="api-1/tag/${tag}"`), tag).toBe(true);
      expect(shown('Create widget token'), 'the first operation').toBe(true);
    },
    120_000,
  );
});
