// One organization can neither see nor touch another's data, and cannot even
// learn that an id exists: a foreign id answers exactly like a missing one
// (404), on REST and GraphQL alike.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { authHeaders, createTestApp, type TestApp } from './utils/app.ts';

let t: TestApp;
/** Everything the other organization (Globex) owns. */
const theirs = {
  assistant: '',
  session: '',
  conversation: '',
  context: '',
  reference: 'globex-customer-1',
  reference2: 'globex-customer-2',
  source: '',
};

beforeAll(async () => {
  t = await createTestApp();
  const as = { auth: t.otherOrg };
  const assistant = await t.json('POST', '/api/v1/assistants/', { ...as, body: { name: 'Globex bot', description: 'secret plans' } });
  theirs.assistant = assistant.body.data.id;
  const session = await t.json('POST', '/api/v1/sessions/', { ...as, body: { assistant_id: theirs.assistant, visitor_id: 'globex-visitor' } });
  theirs.session = session.body.data.id;
  await t.json('POST', `/api/v1/sessions/${theirs.session}/messages`, { ...as, body: { content: 'Globex session secret' } });
  const context = await t.json('POST', '/api/v1/contexts/', { ...as, body: { user_reference: theirs.reference, traits: { plan: 'gold' } } });
  theirs.context = context.body.data.id;
  await t.json('POST', '/api/v1/contexts/', { ...as, body: { user_reference: theirs.reference2, traits: { plan: 'silver' } } });
  const conversation = await t.json('POST', '/api/v1/conversations/', {
    ...as,
    body: { assistant_id: theirs.assistant, customer_id: theirs.reference, title: 'Globex chat' },
  });
  theirs.conversation = conversation.body.data.id;
  await t.json('POST', `/api/v1/conversations/${theirs.conversation}/messages`, { ...as, body: { content: 'Globex conversation secret' } });
  const source = await t.json('POST', '/api/v1/knowledge/qa/', { ...as, body: { question: 'What is the Globex launch code?', answer: 'Globex launch code secret' } });
  theirs.source = source.body.data.id;
  // Indexed, so that a search could find it if tenancy failed.
  for (let i = 0; (await t.json('GET', `/api/v1/knowledge/qa/${theirs.source}`, as)).body.data.status !== 'ready'; i++) {
    if (i > 300) throw new Error('their Q&A pair never became ready');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  for (const id of Object.values(theirs)) expect(id).toBeTruthy();
});
afterAll(() => t.close());

type Reply = { status: number; body: any };

/** The same reply once the id in it is replaced, so a foreign id and a missing one can be compared. */
const normalise = (reply: Reply, id: string) => ({ status: reply.status, body: JSON.parse(JSON.stringify(reply.body).replaceAll(id, '<id>')) });

async function expectLikeMissing(method: string, path: (id: string) => string, foreignId: string, body?: (id: string) => unknown) {
  const missingId = randomUUID();
  const foreign = await t.json(method, path(foreignId), { body: body?.(foreignId) });
  const missing = await t.json(method, path(missingId), { body: body?.(missingId) });
  expect(foreign.status, `${method} ${path('<foreign>')}`).toBe(404);
  expect(foreign.body).toMatchObject({ status: 'error', status_code: 404, data: null });
  expect(normalise(foreign, foreignId), `${method} ${path('<foreign>')}`).toEqual(normalise(missing, missingId));
}

describe('over REST a foreign id answers exactly like a missing one', () => {
  test('assistants: read, update, replace and delete', async () => {
    await expectLikeMissing('GET', (id) => `/api/v1/assistants/${id}`, theirs.assistant);
    await expectLikeMissing('PATCH', (id) => `/api/v1/assistants/${id}`, theirs.assistant, () => ({ name: 'Hijacked' }));
    await expectLikeMissing('PUT', (id) => `/api/v1/assistants/${id}`, theirs.assistant, () => ({ name: 'Hijacked' }));
    await expectLikeMissing('DELETE', (id) => `/api/v1/assistants/${id}`, theirs.assistant);
    const still = await t.json('GET', `/api/v1/assistants/${theirs.assistant}`, { auth: t.otherOrg });
    expect(still.body.data).toMatchObject({ name: 'Globex bot', description: 'secret plans' });
  });

  test('sessions and their messages', async () => {
    await expectLikeMissing('GET', (id) => `/api/v1/sessions/${id}`, theirs.session);
    await expectLikeMissing('GET', (id) => `/api/v1/sessions/${id}/messages`, theirs.session);
    await expectLikeMissing('POST', (id) => `/api/v1/sessions/${id}/messages`, theirs.session, () => ({ content: 'Injected' }));
    const history = await t.json('GET', `/api/v1/sessions/${theirs.session}/messages`, { auth: t.otherOrg });
    expect(history.body.data.items.map((m: { content: string }) => m.content)).not.toContain('Injected');
  });

  test('conversations and their messages', async () => {
    await expectLikeMissing('GET', (id) => `/api/v1/conversations/${id}`, theirs.conversation);
    await expectLikeMissing('GET', (id) => `/api/v1/conversations/${id}/messages`, theirs.conversation);
    await expectLikeMissing('POST', (id) => `/api/v1/conversations/${id}/messages`, theirs.conversation, () => ({ content: 'Injected' }));
    const history = await t.json('GET', `/api/v1/conversations/${theirs.conversation}/messages`, { auth: t.otherOrg });
    expect(history.body.data.items.map((m: { content: string }) => m.content)).not.toContain('Injected');
  });

  test('user contexts, by id and by user reference', async () => {
    await expectLikeMissing('GET', (id) => `/api/v1/contexts/${id}`, theirs.context);
    await expectLikeMissing('PATCH', (id) => `/api/v1/contexts/${id}`, theirs.context, () => ({ traits: { plan: 'free' } }));
    await expectLikeMissing('DELETE', (id) => `/api/v1/contexts/${id}`, theirs.context);
    await expectLikeMissing('GET', (key) => `/api/v1/contexts/${key}`, theirs.reference);
    await expectLikeMissing('PUT', (key) => `/api/v1/contexts/${key}`, theirs.reference, () => ({ traits: { plan: 'free' } }));
    await expectLikeMissing('DELETE', (key) => `/api/v1/contexts/${key}`, theirs.reference);
    const still = await t.json('GET', `/api/v1/contexts/${theirs.context}`, { auth: t.otherOrg });
    expect(still.body.data.traits).toEqual({ plan: 'gold' });
  });

  test('another organization\'s assistant cannot be used to open a session or a conversation', async () => {
    await expectLikeMissing('POST', () => '/api/v1/sessions/', theirs.assistant, (id) => ({ assistant_id: id }));
    await expectLikeMissing('POST', () => '/api/v1/conversations/', theirs.assistant, (id) => ({ assistant_id: id }));
  });

  test('another organization\'s user context cannot be linked to a conversation', async () => {
    const mine = await t.json('POST', '/api/v1/assistants/', { body: { name: 'Acme bot' } });
    const assistantId = mine.body.data.id;
    await expectLikeMissing('POST', () => '/api/v1/conversations/', theirs.context, (id) => ({ assistant_id: assistantId, user_context_id: id }));
    await expectLikeMissing('POST', () => '/api/v1/conversations/', theirs.reference, (key) => ({
      assistant_id: assistantId,
      user_context_id: key,
    }));
  });

  test('a customer id that matches another organization\'s user reference links nothing of theirs', async () => {
    const mine = await t.json('POST', '/api/v1/assistants/', { body: { name: 'Acme bot' } });
    const conversation = await t.json('POST', '/api/v1/conversations/', { body: { assistant_id: mine.body.data.id, customer_id: theirs.reference } });
    expect(conversation.status).toBe(201);
    expect(conversation.body.data.user_context_id).toBeNull();
    // And their traits do not reach our prompt.
    t.ollama.requests.length = 0;
    await t.json('POST', `/api/v1/conversations/${conversation.body.data.id}/messages`, { body: { content: 'What plan am I on?' } });
    const prompt = JSON.stringify(t.ollama.requests.filter((r) => r.path === '/api/chat').map((r) => r.body));
    expect(prompt).not.toContain('gold');
  });

  test('creating a context with the same user reference makes our own and leaves theirs alone', async () => {
    const { status, body } = await t.json('POST', '/api/v1/contexts/', { body: { user_reference: theirs.reference, traits: { plan: 'bronze' } } });
    expect(status).toBe(201);
    expect(body.data.id).not.toBe(theirs.context);
    expect(body.data.traits).toEqual({ plan: 'bronze' });
    const still = await t.json('GET', `/api/v1/contexts/${theirs.context}`, { auth: t.otherOrg });
    expect(still.body.data.traits).toEqual({ plan: 'gold' });
  });

  test('lists and filters show none of another organization\'s rows', async () => {
    const lists = ['/api/v1/assistants/?limit=100', '/api/v1/sessions/?limit=100', '/api/v1/conversations/?limit=100', '/api/v1/contexts/?limit=100'];
    const foreignIds = [theirs.assistant, theirs.session, theirs.conversation, theirs.context];
    for (const path of lists) {
      const { status, body } = await t.json('GET', path);
      expect(status).toBe(200);
      const ids = body.data.items.map((item: { id: string }) => item.id);
      for (const id of foreignIds) expect(ids, path).not.toContain(id);
    }
    const byAssistant = await t.json('GET', `/api/v1/sessions/?assistant_id=${theirs.assistant}`);
    expect(byAssistant.body.data).toMatchObject({ items: [], total: 0 });
    const byVisitor = await t.json('GET', '/api/v1/sessions/?visitor_id=globex-visitor');
    expect(byVisitor.body.data).toMatchObject({ items: [], total: 0 });
    const byCustomer = await t.json('GET', `/api/v1/conversations/?customer_id=${theirs.reference}&assistant_id=${theirs.assistant}`);
    expect(byCustomer.body.data).toMatchObject({ items: [], total: 0 });
  });

  test('knowledge search and evaluation: their assistant and their sources answer like missing ones, and their passages are never found', async () => {
    const cases = (id: string) => [{ question: 'What is the Globex launch code?', expected_source_id: id }];
    await expectLikeMissing('POST', () => '/api/v1/knowledge/search', theirs.assistant, (id) => ({ query: 'launch code', assistant_id: id }));
    await expectLikeMissing('POST', () => '/api/v1/knowledge/evaluations', theirs.assistant, (id) => ({ assistant_id: id, cases: cases(theirs.source) }));
    await expectLikeMissing('POST', () => '/api/v1/knowledge/evaluations', theirs.source, (id) => ({ cases: cases(id) }));
    const found = await t.json('POST', '/api/v1/knowledge/search', { body: { query: 'What is the Globex launch code?', limit: 50 } });
    expect(found.status).toBe(200);
    expect(JSON.stringify(found.body)).not.toContain(theirs.source);
    expect(JSON.stringify(found.body)).not.toContain('launch code secret');
    const own = await t.json('POST', '/api/v1/knowledge/search', { body: { query: 'What is the Globex launch code?' }, auth: t.otherOrg });
    expect(own.body.data.passages[0].source_id).toBe(theirs.source);
  });

  test('a widget token of one organization cannot reach another\'s assistant', async () => {
    const issued = await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: t.org.clientId }, auth: null });
    const token = issued.body.token;
    const read = await t.json('GET', `/api/v1/assistants/${theirs.assistant}`, { auth: { token } });
    expect(read.status).toBe(404);
    const open = await t.json('POST', '/api/v1/sessions/', { auth: { token }, body: { assistant_id: theirs.assistant } });
    expect(open.status).toBe(404);
    const list = await t.json('GET', '/api/v1/assistants/', { auth: { token } });
    expect(list.body.data.items.map((a: { id: string }) => a.id)).not.toContain(theirs.assistant);
  });
});

describe('over GraphQL a foreign id answers exactly like a missing one', () => {
  const cases: Array<[string, string, (id: string) => Record<string, unknown>]> = [
    ['assistant', 'query ($id: ID!) { assistant(id: $id) { id name } }', (id) => ({ id })],
    ['updateAssistant', 'mutation ($id: ID!) { updateAssistant(id: $id, input: { name: "Hijacked" }) { id } }', (id) => ({ id })],
    ['deleteAssistant', 'mutation ($id: ID!) { deleteAssistant(id: $id) }', (id) => ({ id })],
    ['session', 'query ($id: ID!) { session(id: $id) { id messages { total } } }', (id) => ({ id })],
    [
      'sendSessionMessage',
      'mutation ($id: ID!) { sendSessionMessage(sessionId: $id, input: { content: "Injected" }) { assistantMessage { id } } }',
      (id) => ({ id }),
    ],
    ['createSession', 'mutation ($id: ID!) { createSession(input: { assistantId: $id }) { id } }', (id) => ({ id })],
    ['conversation', 'query ($id: ID!) { conversation(id: $id) { id messages { total } } }', (id) => ({ id })],
    [
      'sendConversationMessage',
      'mutation ($id: ID!) { sendConversationMessage(conversationId: $id, input: { content: "Injected" }) { assistantMessage { id } } }',
      (id) => ({ id }),
    ],
    ['createConversation', 'mutation ($id: ID!) { createConversation(input: { assistantId: $id }) { id } }', (id) => ({ id })],
    ['userContext', 'query ($key: String!) { userContext(key: $key) { id traits } }', (key) => ({ key })],
    ['updateUserContext', 'mutation ($key: String!) { updateUserContext(key: $key, input: { traits: { plan: "free" } }) { id } }', (key) => ({ key })],
    ['deleteUserContext', 'mutation ($key: String!) { deleteUserContext(key: $key) }', (key) => ({ key })],
    ['searchKnowledge', 'query ($id: ID!) { searchKnowledge(input: { query: "launch code", assistantId: $id }) { passages { text } } }', (id) => ({ id })],
    [
      'evaluateKnowledge',
      'query ($id: ID!) { evaluateKnowledge(input: { cases: [{ question: "launch code", expectedSourceId: $id }] }) { mrr } }',
      (id) => ({ id }),
    ],
  ];
  const foreignOf: Record<string, () => string> = {
    assistant: () => theirs.assistant,
    updateAssistant: () => theirs.assistant,
    deleteAssistant: () => theirs.assistant,
    session: () => theirs.session,
    sendSessionMessage: () => theirs.session,
    createSession: () => theirs.assistant,
    conversation: () => theirs.conversation,
    sendConversationMessage: () => theirs.conversation,
    createConversation: () => theirs.assistant,
    userContext: () => theirs.reference2,
    updateUserContext: () => theirs.context,
    deleteUserContext: () => theirs.reference2,
    searchKnowledge: () => theirs.assistant,
    evaluateKnowledge: () => theirs.source,
  };

  test.each(cases)('%s', async (field, query, variables) => {
    const foreignId = foreignOf[field]();
    const missingId = randomUUID();
    const foreign = await t.graphql(query, variables(foreignId));
    const missing = await t.graphql(query, variables(missingId));
    expect(foreign.body.errors?.[0].extensions.code).toBe('NOT_FOUND');
    expect(foreign.body.data?.[field] ?? null).toBeNull();
    expect(normalise(foreign, foreignId)).toEqual(normalise(missing, missingId));
  });

  test('their rows are still intact afterwards', async () => {
    const globex = authHeaders(t.otherOrg);
    const reply = await t.graphql(
      `query ($a: ID!, $s: ID!, $c: ID!, $k: String!) {
        assistant(id: $a) { name }
        session(id: $s) { messages { total } }
        conversation(id: $c) { messages { total } }
        userContext(key: $k) { traits }
      }`,
      { a: theirs.assistant, s: theirs.session, c: theirs.conversation, k: theirs.reference2 },
      globex,
    );
    expect(reply.body.errors).toBeUndefined();
    expect(reply.body.data).toEqual({
      assistant: { name: 'Globex bot' },
      session: { messages: { total: 2 } },
      conversation: { messages: { total: 2 } },
      userContext: { traits: { plan: 'silver' } },
    });
  });
});
