// What every client sees at the edge, whatever it calls: CORS for browsers,
// and the error envelope with an honest status for every way a request can be
// wrong. Nothing a client sends may produce a 500 or a stack trace.
import { randomUUID } from 'node:crypto';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp, type App } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLlm } from '../src/llm/ollama.ts';
import { authHeaders, BASE, createTestApp, type TestApp } from './utils/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const SHOP = 'https://shop.example.com';
const envelopeError = (status: number) => ({ status: 'error', status_code: status, detail: expect.any(String) });

/** No stack frames, file paths or database internals in what the client reads. */
function expectNoInternals(text: string) {
  expect(text).not.toMatch(/\n\s+at |\.ts:\d+|node_modules|prisma|Invalid `|postgres|PGlite/i);
}

async function createAssistant(): Promise<string> {
  const { status, body } = await t.json('POST', '/api/v1/assistants/', { body: { name: 'Edge bot' } });
  expect(status).toBe(201);
  return body.data.id;
}

function preflight(app: { fetch: (r: Request) => Promise<Response> }, path: string, origin: string, headers: Record<string, string> = {}) {
  return app.fetch(
    new Request(`${BASE}${path}`, {
      method: 'OPTIONS',
      headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', ...headers },
    }),
  );
}

describe('CORS', () => {
  const paths = [
    '/api/v1/assistants/',
    '/api/v1/assistants/9b2f4c7e-0000-4000-8000-000000000000',
    '/api/v1/sessions/9b2f4c7e-0000-4000-8000-000000000000/messages',
    '/api/v1/conversations/',
    '/api/v1/contexts/user-456',
    '/api/v1/auth/widget-token',
    '/api/v1/knowledge/files/',
    '/graphql',
  ];

  test('every endpoint answers a browser preflight with the origin echoed, credentials allowed and the auth headers allowed', async () => {
    for (const path of paths) {
      const response = await preflight(t.app, path, SHOP, {
        'Access-Control-Request-Headers': 'x-api-key, x-api-secret, content-type',
      });
      expect(response.status, path).toBeLessThan(300);
      expect(response.headers.get('access-control-allow-origin'), path).toBe(SHOP);
      expect(response.headers.get('access-control-allow-credentials'), path).toBe('true');
      const allowed = response.headers.get('access-control-allow-headers')?.toLowerCase() ?? '';
      for (const header of ['x-api-key', 'x-api-secret', 'content-type']) expect(allowed, path).toContain(header);
      expect(response.headers.get('access-control-allow-methods'), path).toContain('POST');
    }
  });

  test('a preflight that names no headers still allows the API key, secret, Authorization and Content-Type headers', async () => {
    const response = await preflight(t.app, '/api/v1/sessions/', SHOP);
    const allowed = (response.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['x-api-key', 'x-api-secret', 'authorization', 'content-type']));
    for (const method of ['GET', 'POST', 'PATCH', 'PUT', 'DELETE']) {
      expect(response.headers.get('access-control-allow-methods')).toContain(method);
    }
  });

  test('a browser can read the rate-limit headers of a reply, and of an error reply too', async () => {
    const ok = await t.request('GET', '/api/v1/assistants/', { headers: { Origin: SHOP } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    const exposed = (ok.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/\s*,\s*/);
    expect(exposed).toEqual(
      expect.arrayContaining(['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'ratelimit-policy', 'ratelimit', 'retry-after']),
    );
    expect(ok.headers.get('x-ratelimit-remaining')).not.toBeNull();

    // A browser must be able to read why a call failed.
    const denied = await t.request('GET', '/api/v1/assistants/', { headers: { Origin: SHOP }, auth: null });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe(SHOP);
    const unknown = await t.request('GET', '/api/v1/nowhere', { headers: { Origin: SHOP } });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('access-control-allow-origin')).toBe(SHOP);
  });

  test('a response never allows every origin with a wildcard, since credentials are allowed', async () => {
    const response = await t.request('GET', '/api/v1/assistants/', { headers: { Origin: 'https://anyone.example' } });
    expect(response.headers.get('access-control-allow-origin')).toBe('https://anyone.example');
    expect(response.headers.get('vary')).toMatch(/origin/i);
  });

  describe('with CORS_ORIGINS set', () => {
    let restricted: App;
    beforeAll(() => {
      const config = loadConfig({ OLLAMA_HOST: t.ollama.url, CORS_ORIGINS: `${SHOP}, https://admin.example.com` });
      restricted = buildApp({ config, db: t.db, llm: createLlm({ host: config.ollamaHost }) });
    });

    test('a listed origin is echoed on the preflight and on the reply', async () => {
      const pre = await preflight(restricted, '/api/v1/assistants/', 'https://admin.example.com');
      expect(pre.headers.get('access-control-allow-origin')).toBe('https://admin.example.com');
      const reply = await restricted.fetch(
        new Request(`${BASE}/api/v1/assistants/`, { headers: { Origin: SHOP, ...authHeaders(t.org) } }),
      );
      expect(reply.status).toBe(200);
      expect(reply.headers.get('access-control-allow-origin')).toBe(SHOP);
    });

    test('a foreign origin gets no allow-origin header, on the preflight or on the reply', async () => {
      const pre = await preflight(restricted, '/api/v1/assistants/', 'https://evil.example');
      expect(pre.headers.get('access-control-allow-origin')).toBeNull();
      expect(pre.headers.get('access-control-allow-credentials')).toBeNull();
      const reply = await restricted.fetch(
        new Request(`${BASE}/api/v1/assistants/`, { headers: { Origin: 'https://evil.example', ...authHeaders(t.org) } }),
      );
      expect(reply.headers.get('access-control-allow-origin')).toBeNull();
      expect(reply.headers.get('access-control-allow-credentials')).toBeNull();
      // A look-alike of a listed origin is foreign too.
      const lookalike = await preflight(restricted, '/graphql', `${SHOP}.evil.example`);
      expect(lookalike.headers.get('access-control-allow-origin')).toBeNull();
    });
  });
});

describe('errors are the documented envelope with an honest status', () => {
  test('malformed JSON is a 400 that says so', async () => {
    const { status, body } = await t.json('POST', '/api/v1/assistants/', { body: '{"name": "Bot",' });
    expect(status).toBe(400);
    expect(body).toEqual({ ...envelopeError(400), data: null });
    expect(body.detail).toMatch(/json/i);
  });

  test('a body that is not a JSON object is a 400', async () => {
    for (const raw of ['[{"name":"Bot"}]', '"Bot"', '42', 'null', 'true']) {
      const { status, body } = await t.json('POST', '/api/v1/assistants/', { body: raw });
      expect(status, raw).toBe(400);
      expect(body, raw).toEqual({ ...envelopeError(400), data: null });
    }
  });

  test('an empty body where one is expected is a 400', async () => {
    const { status, body } = await t.json('POST', '/api/v1/contexts/', { body: '', headers: { 'Content-Type': 'application/json' } });
    expect(status).toBe(400);
    expect(body).toEqual({ ...envelopeError(400), data: null });
  });

  test('a missing required field is a 422 naming it', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['/api/v1/assistants/', { description: 'no name' }, 'name'],
      ['/api/v1/sessions/', { visitor_id: 'v-1' }, 'assistant_id'],
      ['/api/v1/conversations/', { customer_id: 'user-456' }, 'assistant_id'],
      ['/api/v1/contexts/', { traits: {} }, 'user_reference'],
      ['/api/v1/auth/widget-token', {}, 'client_id'],
    ];
    for (const [path, sent, field] of cases) {
      const { status, body } = await t.json('POST', path, { body: sent });
      expect(status, path).toBe(422);
      expect(body, path).toMatchObject({ status: 'error', status_code: 422 });
      expect(body.data.errors, path).toEqual([{ field, message: 'is required' }]);
      expect(body.detail, path).toContain(field);
    }
  });

  test('a field of the wrong type is a 422 naming it', async () => {
    const assistantId = await createAssistant();
    const { status, body } = await t.json('POST', '/api/v1/sessions/', { body: { assistant_id: assistantId, metadata: ['not', 'an', 'object'] } });
    expect(status).toBe(422);
    expect(body.data.errors).toEqual([{ field: 'metadata', message: 'must be a JSON object' }]);
    const message = await t.json('POST', '/api/v1/contexts/', { body: { user_reference: 42 } });
    expect(message.status).toBe(422);
    expect(message.body.data.errors).toEqual([{ field: 'user_reference', message: 'must be a string' }]);
  });

  test('an unknown route is a 404 envelope, inside and outside /api/v1', async () => {
    for (const path of ['/api/v1/nothing-here', '/api/v1/assistants/a/b/c', '/api/v2/assistants', '/admin']) {
      const { status, body } = await t.json('GET', path);
      expect(status, path).toBe(404);
      expect(body, path).toEqual({ ...envelopeError(404), data: null });
    }
  });

  test('a wrong method is a 405 with an Allow header listing the right ones', async () => {
    const cases: Array<[string, string, string[]]> = [
      ['DELETE', '/api/v1/assistants/', ['GET', 'POST']],
      ['GET', '/api/v1/auth/widget-token', ['POST']],
      ['DELETE', '/api/v1/sessions/9b2f4c7e-0000-4000-8000-000000000000', ['GET']],
      ['PUT', '/api/v1/conversations/9b2f4c7e-0000-4000-8000-000000000000/messages', ['GET', 'POST']],
    ];
    for (const [method, path, allow] of cases) {
      const { status, body, headers } = await t.json(method, path, method === 'GET' || method === 'DELETE' ? {} : { body: {} });
      expect(status, `${method} ${path}`).toBe(405);
      expect(body).toEqual({ ...envelopeError(405), data: null });
      expect(headers.get('allow')?.split(/\s*,\s*/).sort()).toEqual(allow);
    }
  });

  test('a body that is not JSON is a 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
      const { status, body } = await t.json('POST', '/api/v1/assistants/', { body: '{"name":"Bot"}', headers: { 'Content-Type': type } });
      expect(status, type).toBe(415);
      expect(body).toEqual({ ...envelopeError(415), data: null });
      expect(body.detail).toContain('application/json');
    }
    // JSON with a charset or a +json suffix is JSON.
    const charset = await t.json('POST', '/api/v1/assistants/', {
      body: '{"name":"Bot"}',
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
    });
    expect(charset.status).toBe(201);
  });

  test('a body over the limit is a 413 that states the limit', async () => {
    const limit = t.config.bodyMaxBytes;
    const { status, body } = await t.json('POST', '/api/v1/contexts/', {
      body: { user_reference: 'big', traits: { notes: 'x'.repeat(limit + 10) } },
    });
    expect(status).toBe(413);
    expect(body).toEqual({ ...envelopeError(413), data: null });
    expect(body.detail).toContain(String(limit));
  });

  test('over GraphQL a body over the limit is refused with 413 too', async () => {
    const response = await t.app.fetch(
      new Request(`${BASE}/graphql`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...authHeaders(t.org) },
        body: JSON.stringify({ query: '{ __typename }', variables: { padding: 'x'.repeat(t.config.bodyMaxBytes + 10) } }),
      }),
    );
    expect(response.status).toBe(413);
    const body = await response.json();
    expect(body.errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    expect(body.errors[0].message).toContain(String(t.config.bodyMaxBytes));
  });

  test('when the model is missing, sending a message is a 503 envelope and the message is kept', async () => {
    const assistantId = await createAssistant();
    const session = await t.json('POST', '/api/v1/sessions/', { body: { assistant_id: assistantId } });
    t.ollama.setBehavior({ models: ['some-other-model'] });
    try {
      const { status, body } = await t.json('POST', `/api/v1/sessions/${session.body.data.id}/messages`, { body: { content: 'Hello' } });
      expect(status).toBe(503);
      expect(body).toEqual({ ...envelopeError(503), data: null });
      expectNoInternals(JSON.stringify(body));
    } finally {
      t.ollama.setBehavior({ models: ['llama3.2'] });
    }
    const history = await t.json('GET', `/api/v1/sessions/${session.body.data.id}/messages`);
    expect(history.body.data.items.map((m: { content: string }) => m.content)).toContain('Hello');
  });
});

describe('GraphQL over HTTP answers with the status REST gives the same error', () => {
  test('not found, invalid input and unauthenticated have their REST status', async () => {
    const missing = randomUUID();
    const cases: Array<[string, Record<string, unknown>, Record<string, string> | undefined, string, number]> = [
      ['query ($id: ID!) { assistant(id: $id) { id } }', { id: missing }, undefined, 'NOT_FOUND', 404],
      ['mutation { createAssistant(input: { name: "" }) { id } }', {}, undefined, 'VALIDATION_FAILED', 422],
      ['{ assistants { total } }', {}, {}, 'UNAUTHENTICATED', 401],
    ];
    for (const [query, variables, headers, code, status] of cases) {
      const reply = await t.graphql(query, variables, headers);
      expect(reply.body.errors?.[0].extensions.code, query).toBe(code);
      expect(reply.status, query).toBe(status);
      // The mapping travels in the error (extensions.http) but is not shown to the client.
      expect(reply.body.errors?.[0].extensions.http, query).toBeUndefined();
      const rest = await t.json('GET', code === 'NOT_FOUND' ? `/api/v1/assistants/${missing}` : '/api/v1/assistants/', code === 'UNAUTHENTICATED' ? { auth: null } : {});
      if (code !== 'VALIDATION_FAILED') expect(rest.status, query).toBe(status);
    }
  });
});

describe('nothing a client sends produces a 500 or a stack trace', () => {
  test('hostile bodies, paths and query strings get a client error in the envelope', async () => {
    const assistantId = await createAssistant();
    const deepObject = `{"name":"Bot","metadata":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
    const deepArray = `{"name":"Bot","metadata":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    const cases: Array<[string, string, unknown?]> = [
      ['POST', '/api/v1/contexts/', { user_reference: 'nul\u0000byte' }],
      ['POST', '/api/v1/contexts/', { user_reference: 'user-1', traits: { note: 'nul\u0000byte' } }],
      ['POST', '/api/v1/contexts/', { user_reference: 'user-1', traits: { 'key\u0000': 1 } }],
      ['POST', '/api/v1/assistants/', { name: 'Bot', metadata: { a: 'nul\u0000' } }],
      ['POST', '/api/v1/sessions/', { assistant_id: assistantId, visitor_id: 'v\u0000' }],
      ['POST', '/api/v1/sessions/', { assistant_id: 'nul\u0000' }],
      ['GET', '/api/v1/contexts/nul%00byte'],
      ['DELETE', '/api/v1/contexts/nul%00byte'],
      ['GET', '/api/v1/sessions/?visitor_id=v%00'],
      ['GET', '/api/v1/conversations/?customer_id=c%00'],
      ['GET', '/api/v1/assistants/%E0%A4%A'],
      ['GET', '/api/v1/assistants/?limit=99999999999999999999999'],
      ['GET', '/api/v1/assistants/?limit=1e3'],
      ['GET', '/api/v1/assistants/?is_active=maybe'],
      ['GET', `/api/v1/assistants/${'a'.repeat(10_000)}`],
      ['POST', '/api/v1/assistants/', deepObject],
      ['POST', '/api/v1/assistants/', deepArray],
      ['POST', '/api/v1/assistants/', '{"name":"Bot","__proto__":{"isActive":false}}'],
      ['POST', '/api/v1/assistants/', '{"name":"\\ud800"}'],
      ['POST', '/api/v1/assistants/', { name: 'Bot', temperature: 1e308, max_tokens: 2 ** 53 }],
      ['POST', '/api/v1/assistants/', { name: { nested: true } }],
      ['PATCH', `/api/v1/assistants/${assistantId}`, { name: null }],
      ['POST', `/api/v1/sessions/${assistantId}/messages`, { content: 'x'.repeat(40_000) }],
    ];
    for (const [method, path, sent] of cases) {
      const label = `${method} ${path.slice(0, 60)} ${typeof sent === 'string' ? sent.slice(0, 60) : JSON.stringify(sent)?.slice(0, 60)}`;
      const response = await t.request(method, path, sent === undefined ? {} : { body: sent });
      const text = await response.text();
      expect(response.status, `${label}: ${text}`).toBeLessThan(500);
      const body = JSON.parse(text);
      expect(body, label).toMatchObject({ status: response.ok ? 'success' : 'error', status_code: response.status });
      expectNoInternals(text);
    }
  });

  test('a NUL byte in a field is a 422 naming the field', async () => {
    const { status, body } = await t.json('POST', '/api/v1/contexts/', { body: { user_reference: 'nul\u0000byte' } });
    expect(status).toBe(422);
    expect(body.data.errors).toEqual([{ field: 'user_reference', message: expect.stringMatching(/NUL/) }]);
    const nested = await t.json('POST', '/api/v1/assistants/', { body: { name: 'Bot', metadata: { note: 'a\u0000b' } } });
    expect(nested.status).toBe(422);
    expect(nested.body.data.errors[0].field).toBe('metadata.note');
  });

  test('metadata nested absurdly deep is a 422 naming the field', async () => {
    const { status, body } = await t.json('POST', '/api/v1/assistants/', {
      body: `{"name":"Bot","metadata":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`,
    });
    expect(status).toBe(422);
    expect(body.data.errors).toEqual([{ field: 'metadata', message: expect.stringMatching(/nested/) }]);
    // Ordinary nesting is fine.
    const fine = await t.json('POST', '/api/v1/assistants/', { body: { name: 'Bot', metadata: { a: { b: { c: [1, { d: 2 }] } } } } });
    expect(fine.status).toBe(201);
  });

  test('GraphQL refuses the same hostile input with a code, not an unexpected error', async () => {
    const literal = await t.graphql('mutation { upsertUserContext(input: { userReference: "a\\u0000b" }) { created } }');
    expect(literal.body.errors?.[0].extensions.code).toBe('VALIDATION_FAILED');
    const variable = await t.graphql('mutation ($input: UpsertUserContextInput!) { upsertUserContext(input: $input) { created } }', {
      input: { userReference: 'user-1', traits: { note: 'a\u0000b' } },
    });
    expect(variable.body.errors?.[0].extensions.code).toBe('VALIDATION_FAILED');
    expect(variable.body.errors?.[0].extensions.errors[0].field).toContain('traits.note');
    const key = await t.graphql('query ($key: String!) { userContext(key: $key) { id } }', { key: 'nul\u0000' });
    expect(key.body.errors?.[0].extensions.code).toBe('VALIDATION_FAILED');
  });
});

describe('over a real socket', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer(t.app.nodeHandler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Sends a body in chunks with no Content-Length (Transfer-Encoding: chunked), over a kept-alive connection. */
  function chunked(agent: Agent, path: string, chunks: string[]): Promise<{ status: number; text: string; connection?: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'Content-Type': 'application/json', ...authHeaders(t.org) } },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (part: Buffer) => parts.push(part));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8'), connection: res.headers.connection }),
          );
        },
      );
      req.on('error', reject);
      for (const chunk of chunks) req.write(chunk);
      req.end();
    });
  }

  test('a declared Content-Length over the limit is refused with 413 before the body is read, on REST and on GraphQL', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/api/v1/assistants/`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...authHeaders(t.org) },
      body: JSON.stringify({ name: 'x'.repeat(t.config.bodyMaxBytes + 1) }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ status: 'error', status_code: 413 });

    const graphql = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...authHeaders(t.org) },
      body: JSON.stringify({ query: '{ __typename }', variables: { padding: 'x'.repeat(t.config.bodyMaxBytes + 1) } }),
    });
    expect(graphql.status).toBe(413);
    expect((await graphql.json()).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    // Within the limit, the declared body is read by GraphQL as it is.
    const within = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...authHeaders(t.org) },
      body: JSON.stringify({ query: 'query ($n: Int) { assistants(limit: $n) { total } }', variables: { n: 1 } }),
    });
    expect(within.status).toBe(200);
    expect((await within.json()).data.assistants.total).toEqual(expect.any(Number));
  });

  test('a chunked body over the limit is refused with 413 on REST and on GraphQL', async () => {
    const padding = 'x'.repeat(64 * 1024);
    const pieces = Math.ceil(t.config.bodyMaxBytes / padding.length) + 1;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const rest = await chunked(agent, '/api/v1/contexts/', ['{"user_reference":"chunky","traits":{"a":"', ...Array(pieces).fill(padding), '"}}']);
      expect(rest.status).toBe(413);
      expect(JSON.parse(rest.text)).toMatchObject({ status: 'error', status_code: 413 });
      // The rest of the body was never read, so the server says it closes the connection...
      expect(rest.connection).toBe('close');
      // ...and a client that keeps connections alive simply carries on with a new one.
      const next = await chunked(agent, '/api/v1/contexts/', ['{"user_reference":"after-413"}']);
      expect(next.status).toBe(201);

      const graphql = await chunked(agent, '/graphql', ['{"query":"{ __typename }","variables":{"a":"', ...Array(pieces).fill(padding), '"}}']);
      expect(graphql.status).toBe(413);
      expect(JSON.parse(graphql.text).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
      expect(graphql.connection).toBe('close');
      const after = await chunked(agent, '/graphql', ['{"query":"{ __typename }"}']);
      expect(after.status).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  test('the rate-limit and CORS headers reach the client over the wire', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/api/v1/assistants/`, { headers: { Origin: SHOP, ...authHeaders(t.org) } });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(Number(response.headers.get('x-ratelimit-limit'))).toBeGreaterThan(0);
    expect(response.headers.get('ratelimit-policy')).toMatch(/^"org";q=\d+;w=3600$/);
  });
});
