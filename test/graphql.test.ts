// GraphQL offers what REST offers, with errors a client can branch on
// (`extensions.code`), unexpected failures masked, and limits that refuse
// abusive documents (depth, aliases, tokens) before anything runs.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../src/app.ts';
import type { Database } from '../src/db/database.ts';
import { createLlm } from '../src/llm/ollama.ts';
import { authHeaders, BASE, createTestApp, type TestApp } from './utils/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** Runs a document and insists that it succeeded. */
async function ok<T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<T> {
  const reply = await t.graphql<T>(query, variables, headers);
  expect(reply.body.errors, JSON.stringify(reply.body.errors)).toBeUndefined();
  expect(reply.status).toBe(200);
  return reply.body.data as T;
}

async function codeOf(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>) {
  const reply = await t.graphql(query, variables, headers);
  return reply.body.errors?.[0]?.extensions?.code as string | undefined;
}

const CREATE_ASSISTANT = `mutation ($input: CreateAssistantInput!) {
  createAssistant(input: $input) { id name description tone language defaultTasks isActive createdAt updatedAt }
}`;

async function createAssistant(input: Record<string, unknown> = { name: 'GraphQL bot' }): Promise<string> {
  const data = await ok(CREATE_ASSISTANT, { input });
  return data.createAssistant.id;
}

describe('the same capabilities as REST', () => {
  test('assistants are created, listed, read, updated and deleted', async () => {
    const input = {
      name: 'Customer Support Bot',
      description: 'Helpful assistant for customer inquiries',
      tone: 'professional',
      language: 'en',
      defaultTasks: ['answer_questions', 'provide_support'],
      isActive: true,
    };
    const { createAssistant: created } = await ok(CREATE_ASSISTANT, { input });
    expect(created).toMatchObject(input);
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);

    const { assistants } = await ok('query ($limit: Int, $offset: Int) { assistants(limit: $limit, offset: $offset) { items { id } total limit offset } }', {
      limit: 100,
      offset: 0,
    });
    expect(assistants).toMatchObject({ limit: 100, offset: 0 });
    expect(assistants.items.map((a: { id: string }) => a.id)).toContain(created.id);

    // The REST view of the same row agrees.
    const rest = await t.json('GET', `/api/v1/assistants/${created.id}`);
    expect(rest.body.data).toMatchObject({ name: input.name, default_tasks: input.defaultTasks });

    const { updateAssistant } = await ok('mutation ($id: ID!) { updateAssistant(id: $id, input: { tone: "friendly", temperature: 0.5 }) { tone temperature name } }', {
      id: created.id,
    });
    expect(updateAssistant).toEqual({ tone: 'friendly', temperature: 0.5, name: input.name });
    const { deleteAssistant } = await ok('mutation ($id: ID!) { deleteAssistant(id: $id) }', { id: created.id });
    expect(deleteAssistant).toBe(created.id);
    expect(await codeOf('query ($id: ID!) { assistant(id: $id) { id } }', { id: created.id })).toBe('NOT_FOUND');
  });

  test('a session is opened and a message gets the model\'s reply, which the history then shows', async () => {
    const assistantId = await createAssistant();
    const { createSession } = await ok(
      'mutation ($input: CreateSessionInput!) { createSession(input: $input) { id assistantId visitorId locale metadata } }',
      { input: { assistantId, visitorId: 'visitor-123', locale: 'en', metadata: { source: 'website' } } },
    );
    expect(createSession).toMatchObject({ assistantId, visitorId: 'visitor-123', locale: 'en', metadata: { source: 'website' } });

    const { sendSessionMessage } = await ok(
      `mutation ($id: ID!, $input: SendMessageInput!) {
        sendSessionMessage(sessionId: $id, input: $input) {
          userMessage { id role content metadata }
          assistantMessage { id role content status model sources { sourceId } usage { promptTokens completionTokens } latencyMs createdAt }
        }
      }`,
      { id: createSession.id, input: { content: 'Hello, I need help with my order', metadata: { user_type: 'customer' } } },
    );
    expect(sendSessionMessage.userMessage).toMatchObject({ role: 'user', content: 'Hello, I need help with my order', metadata: { user_type: 'customer' } });
    expect(sendSessionMessage.assistantMessage).toMatchObject({
      role: 'assistant',
      content: 'You said: Hello, I need help with my order',
      status: 'complete',
      model: 'llama3.2',
      sources: [],
    });
    expect(sendSessionMessage.assistantMessage.usage.completionTokens).toBeGreaterThan(0);

    const { session } = await ok('query ($id: ID!) { session(id: $id) { messages { items { role content } total } } }', { id: createSession.id });
    expect(session.messages.total).toBe(2);
    expect(session.messages.items).toEqual([
      { role: 'user', content: 'Hello, I need help with my order' },
      { role: 'assistant', content: 'You said: Hello, I need help with my order' },
    ]);
  });

  test('a conversation linked to a user context uses its traits', async () => {
    const assistantId = await createAssistant();
    const first = await ok(
      'mutation ($input: UpsertUserContextInput!) { upsertUserContext(input: $input) { created userContext { id userReference traits } } }',
      { input: { userReference: 'user-456', traits: { name: 'John Doe', preferences: { language: 'en' } } } },
    );
    expect(first.upsertUserContext).toMatchObject({ created: true, userContext: { userReference: 'user-456' } });
    const second = await ok(
      'mutation ($input: UpsertUserContextInput!) { upsertUserContext(input: $input) { created userContext { id traits } } }',
      { input: { userReference: 'user-456', traits: { preferences: { notifications: true } } } },
    );
    expect(second.upsertUserContext.created).toBe(false);
    expect(second.upsertUserContext.userContext).toEqual({
      id: first.upsertUserContext.userContext.id,
      traits: { name: 'John Doe', preferences: { language: 'en', notifications: true } },
    });

    const { createConversation } = await ok(
      'mutation ($input: CreateConversationInput!) { createConversation(input: $input) { id customerId title userContextId } }',
      { input: { assistantId, customerId: 'user-456', title: 'Order Support', userContextId: 'user-456' } },
    );
    expect(createConversation).toMatchObject({ customerId: 'user-456', title: 'Order Support', userContextId: first.upsertUserContext.userContext.id });

    t.ollama.requests.length = 0;
    const { sendConversationMessage } = await ok(
      'mutation ($id: ID!) { sendConversationMessage(conversationId: $id, input: { content: "Track my order" }) { assistantMessage { content status } } }',
      { id: createConversation.id },
    );
    expect(sendConversationMessage.assistantMessage).toEqual({ content: 'You said: Track my order', status: 'complete' });
    expect(JSON.stringify(t.ollama.requests.map((r) => r.body))).toContain('John Doe');

    const { conversation } = await ok('query ($id: ID!) { conversation(id: $id) { messages { total } userContext { userReference } } }', {
      id: createConversation.id,
    });
    expect(conversation).toEqual({ messages: { total: 2 }, userContext: { userReference: 'user-456' } });
  });

  test('user contexts are read by reference, updated and deleted', async () => {
    await ok('mutation { upsertUserContext(input: { userReference: "user-789", traits: { tier: "free" } }) { created } }');
    const { userContext } = await ok('{ userContext(key: "user-789") { id traits } }');
    expect(userContext.traits).toEqual({ tier: 'free' });
    const { updateUserContext } = await ok('mutation { updateUserContext(key: "user-789", input: { traits: { tier: "premium", extra: 1 } }) { traits } }');
    expect(updateUserContext.traits).toEqual({ tier: 'premium', extra: 1 });
    const { deleteUserContext } = await ok('mutation { deleteUserContext(key: "user-789") }');
    expect(deleteUserContext).toBe(userContext.id);
    expect(await codeOf('{ userContext(key: "user-789") { id } }')).toBe('NOT_FOUND');
  });

  test('a widget token is issued without credentials and then works as a bearer token', async () => {
    const assistantId = await createAssistant();
    const { createWidgetToken } = await ok('mutation ($c: String!) { createWidgetToken(clientId: $c) { token expiresIn tokenType } }', { c: t.org.clientId }, {});
    expect(createWidgetToken).toMatchObject({ expiresIn: 3600, tokenType: 'Bearer' });
    const asVisitor = { Authorization: `Bearer ${createWidgetToken.token}` };
    const { createSession } = await ok('mutation ($a: ID!) { createSession(input: { assistantId: $a }) { id } }', { a: assistantId }, asVisitor);
    const { sendSessionMessage } = await ok(
      'mutation ($s: ID!) { sendSessionMessage(sessionId: $s, input: { content: "hi" }) { assistantMessage { content } } }',
      { s: createSession.id },
      asVisitor,
    );
    expect(sendSessionMessage.assistantMessage.content).toBe('You said: hi');
    expect(await codeOf('{ userContexts { total } }', {}, asVisitor)).toBe('FORBIDDEN');
    expect(await codeOf('mutation ($c: String!) { createWidgetToken(clientId: $c) { token } }', { c: 'cid_nobody' }, {})).toBe('UNAUTHENTICATED');
  });

  test('the organization behind the key can be read, without its secrets', async () => {
    const { organization } = await ok('{ organization { id name clientId rateLimitPerHour } }');
    expect(organization).toMatchObject({ id: t.org.organizationId, name: 'Acme', clientId: t.org.clientId });
    const introspection = await ok('{ __type(name: "Organization") { fields { name } } }');
    const fields = introspection.__type.fields.map((f: { name: string }) => f.name);
    expect(fields.some((name: string) => /secret|hash|key/i.test(name))).toBe(false);
  });
});

describe('errors carry a stable extensions.code', () => {
  test('invalid input is VALIDATION_FAILED with the fields named', async () => {
    const reply = await t.graphql(CREATE_ASSISTANT, { input: { name: ' ', temperature: 5 } });
    const error = reply.body.errors?.[0];
    expect(error.extensions.code).toBe('VALIDATION_FAILED');
    expect(error.extensions.errors.map((e: { field: string }) => e.field).sort()).toEqual(['name', 'temperature']);
  });

  test('a type error in the variables is reported by GraphQL itself, without running anything', async () => {
    const before = (await ok('{ assistants { total } }')).assistants.total;
    const reply = await t.graphql(CREATE_ASSISTANT, { input: { name: 42 } });
    expect(reply.body.errors?.[0].message).toMatch(/name/);
    expect(reply.body.data ?? null).toBeNull();
    expect((await ok('{ assistants { total } }')).assistants.total).toBe(before);
  });

  test('an unknown id is NOT_FOUND, an inactive assistant is CONFLICT', async () => {
    expect(await codeOf('{ session(id: "5f0c1b7e-0000-4000-8000-000000000000") { id } }')).toBe('NOT_FOUND');
    expect(await codeOf('{ assistant(id: "not-a-uuid") { id } }')).toBe('NOT_FOUND');
    const inactive = await createAssistant({ name: 'Sleeping', isActive: false });
    expect(await codeOf('mutation ($a: ID!) { createSession(input: { assistantId: $a }) { id } }', { a: inactive })).toBe('CONFLICT');
  });

  test('missing credentials are UNAUTHENTICATED; wrong credentials are an HTTP 401', async () => {
    expect(await codeOf('{ assistants { total } }', {}, {})).toBe('UNAUTHENTICATED');
    const wrong = await t.graphql('{ assistants { total } }', {}, { 'X-API-Key': t.org.clientId, 'X-API-Secret': 'wrong' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.errors?.[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(wrong.body.data ?? null).toBeNull();
  });

  test('a model that is not there is MODEL_UNAVAILABLE and the message is kept', async () => {
    const assistantId = await createAssistant();
    const { createSession } = await ok('mutation ($a: ID!) { createSession(input: { assistantId: $a }) { id } }', { a: assistantId });
    t.ollama.setBehavior({ models: ['another-model'] });
    try {
      const code = await codeOf('mutation ($s: ID!) { sendSessionMessage(sessionId: $s, input: { content: "anyone?" }) { assistantMessage { id } } }', {
        s: createSession.id,
      });
      expect(code).toBe('MODEL_UNAVAILABLE');
    } finally {
      t.ollama.setBehavior({ models: ['llama3.2'] });
    }
    const { session } = await ok('query ($s: ID!) { session(id: $s) { messages { items { content } } } }', { s: createSession.id });
    expect(session.messages.items[0].content).toBe('anyone?');
  });

  test('malformed requests are refused with a 4xx, not an unexpected error', async () => {
    const send = (body: string) =>
      t.app.fetch(new Request(`${BASE}/graphql`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...authHeaders(t.org) }, body }));
    const badJson = await send('{"query": ');
    expect(badJson.status).toBe(400);
    const noQuery = await send('{}');
    expect((await noQuery.json()).errors[0].extensions.code).toBe('BAD_REQUEST');
    const syntax = await t.graphql('{ assistants { ');
    expect(syntax.body.errors?.[0].message).toMatch(/Syntax Error/);
    expect(syntax.body.errors?.[0].extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
    // A mutation cannot ride on a GET (a link or an image could trigger it).
    const overGet = await t.app.fetch(
      new Request(`${BASE}/graphql?query=${encodeURIComponent('mutation { createAssistant(input: { name: "x" }) { id } }')}`, {
        headers: { Accept: 'application/json', ...authHeaders(t.org) },
      }),
    );
    expect(overGet.status).toBe(405);
  });

  test('field suggestions do not reveal the schema to a probing client', async () => {
    const reply = await t.graphql('{ assistans { total } }');
    expect(reply.body.errors?.[0].message).not.toMatch(/Did you mean/);
  });
});

describe('an unexpected failure is masked', () => {
  let broken: ReturnType<typeof buildApp>;
  beforeAll(() => {
    // The assistants table "fails" with a message full of internals, as a real database error would.
    const prisma = new Proxy(t.db.prisma, {
      get(target, property) {
        if (property === 'assistant') {
          return new Proxy(
            {},
            {
              get: () => () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.5:5432 at /srv/gateway/src/services/assistant.ts:42')),
            },
          );
        }
        return Reflect.get(target, property);
      },
    });
    broken = buildApp({ config: t.config, db: { ...t.db, prisma } as Database, llm: createLlm({ host: t.config.ollamaHost }) });
  });

  test('GraphQL says "Unexpected error." with the code INTERNAL_SERVER_ERROR and nothing else', async () => {
    const response = await broken.fetch(
      new Request(`${BASE}/graphql`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...authHeaders(t.org) },
        body: JSON.stringify({ query: '{ assistants { total } }' }),
      }),
    );
    const text = await response.text();
    const body = JSON.parse(text);
    expect(body.errors[0].message).toBe('Unexpected error.');
    expect(body.errors[0].extensions.code).toBe('INTERNAL_SERVER_ERROR');
    expect(text).not.toMatch(/ECONNREFUSED|10\.0\.0\.5|\/srv\/|\.ts:\d+|stack/);
  });

  test('REST answers a 500 envelope that names the request, not the cause', async () => {
    const response = await broken.fetch(new Request(`${BASE}/api/v1/assistants/`, { headers: authHeaders(t.org) }));
    const text = await response.text();
    expect(response.status).toBe(500);
    expect(JSON.parse(text)).toMatchObject({ status: 'error', status_code: 500, data: null });
    expect(text).not.toMatch(/ECONNREFUSED|10\.0\.0\.5|\/srv\/|\.ts:\d+|stack/);
  });
});

describe('abusive documents are refused before they run', () => {
  /** `__type { fields { type { ofType { ... } } } }`: a valid selection `depth` levels deep. */
  function nested(depth: number): string {
    let selection = 'name';
    for (let level = depth; level > 4; level--) selection = `ofType { ${selection} }`;
    return `{ __type(name: "Assistant") { fields { type { ${selection} } } } }`;
  }

  test('a query nested deeper than 10 levels is refused; 10 levels are fine', async () => {
    const allowed = await t.graphql(nested(10));
    expect(allowed.body.errors).toBeUndefined();
    const refused = await t.graphql(nested(11));
    expect(refused.body.data ?? null).toBeNull();
    expect(refused.body.errors?.[0].message).toMatch(/depth limit of 10/i);
  });

  test('nesting through inline fragments counts too', async () => {
    let selection = '__typename';
    for (let i = 0; i < 12; i++) selection = `... on Query { ${selection} }`;
    const refused = await t.graphql(`{ ${selection} }`);
    expect(refused.body.errors?.[0].message).toMatch(/depth limit/i);
  });

  test('more than 15 aliases are refused; 15 are fine', async () => {
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: assistants(limit: 1) { total }`).join(' ')} }`;
    const allowed = await t.graphql(aliases(15));
    expect(allowed.body.errors).toBeUndefined();
    expect(Object.keys(allowed.body.data ?? {})).toHaveLength(15);
    const refused = await t.graphql(aliases(16));
    expect(refused.body.data ?? null).toBeNull();
    expect(refused.body.errors?.[0].message).toMatch(/aliases limit of 15/i);
  });

  test('a document of more than 2000 tokens is refused', async () => {
    const fields = Array.from({ length: 1100 }, (_, i) => `f${i}: __typename`).join(' ');
    const refused = await t.graphql(`{ ${fields} }`);
    expect(refused.body.data ?? null).toBeNull();
    expect(refused.body.errors?.[0].message).toMatch(/token limit/i);
  });

  test('the refusals run nothing: a refused mutation creates nothing', async () => {
    const before = (await ok('{ assistants { total } }')).assistants.total;
    const mutation = `mutation { ${Array.from({ length: 16 }, (_, i) => `m${i}: createAssistant(input: { name: "Flood ${i}" }) { id }`).join(' ')} }`;
    const refused = await t.graphql(mutation);
    expect(refused.body.errors?.length).toBeGreaterThan(0);
    expect((await ok('{ assistants { total } }')).assistants.total).toBe(before);
  });
});
