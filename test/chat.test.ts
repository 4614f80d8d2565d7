// The API reference's Sessions, Conversations and User Contexts examples and its
// two JavaScript use cases, sent as written against the gateway with the Ollama
// test double standing in for the model.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SEED_ASSISTANT } from './fixtures/seed.ts';
import { createTestApp, type TestApp } from './utils/app.ts';

let t: TestApp;
let assistantId: string;

beforeAll(async () => {
  t = await createTestApp();
  const created = await t.json('POST', '/api/v1/assistants/', { body: SEED_ASSISTANT });
  assistantId = created.body.data.id;
});
afterAll(() => t.close());

/** The messages the model received for the newest chat request. */
function lastPrompt(): Array<{ role: string; content: string }> {
  const chats = t.ollama.requests.filter((r) => r.path === '/api/chat');
  return (chats.at(-1)!.body as { messages: Array<{ role: string; content: string }> }).messages;
}

describe('sessions', () => {
  test('the reference session example creates a session with every field it sent', async () => {
    const { status, body } = await t.json('POST', '/api/v1/sessions/', {
      body: { assistant_id: assistantId, visitor_id: 'visitor-123', locale: 'en', metadata: { source: 'website', page: '/contact' } },
    });
    expect(status).toBe(201);
    expect(body.data).toMatchObject({
      assistant_id: assistantId,
      visitor_id: 'visitor-123',
      locale: 'en',
      metadata: { source: 'website', page: '/contact' },
    });
  });

  test('a message in a session is stored, answered by the model and both are returned', async () => {
    const session = await t.json('POST', '/api/v1/sessions/', { body: { assistant_id: assistantId, locale: 'fr' } });
    const sessionId = session.body.data.id;
    const { status, body } = await t.json('POST', `/api/v1/sessions/${sessionId}/messages`, {
      body: { content: 'Hello, I need help with my order', metadata: { user_type: 'customer' } },
    });
    expect(status).toBe(201);
    expect(body.status).toBe('success');
    expect(body.data.user_message).toMatchObject({
      role: 'user',
      content: 'Hello, I need help with my order',
      metadata: { user_type: 'customer' },
    });
    expect(body.data.assistant_message).toMatchObject({
      role: 'assistant',
      content: 'You said: Hello, I need help with my order',
      status: 'complete',
      model: 'llama3.2',
      sources: [],
    });
    expect(body.data.assistant_message.usage.prompt_tokens).toBeGreaterThan(0);
    expect(body.data.assistant_message.usage.completion_tokens).toBeGreaterThan(0);
    expect(body.data.assistant_message.latency_ms).toBeGreaterThanOrEqual(0);

    // The persona and the session's locale reach the model.
    const system = lastPrompt()[0];
    expect(system.role).toBe('system');
    expect(system.content).toContain('Customer Support Bot');
    expect(system.content).toContain('Helpful assistant for customer inquiries');
    expect(system.content).toContain('professional');
    expect(system.content).toContain('answer questions; provide support');
    expect(system.content).toContain('French (fr)');

    const history = await t.json('GET', `/api/v1/sessions/${sessionId}/messages`);
    expect(history.status).toBe(200);
    expect(history.body.data.total).toBe(2);
    expect(history.body.data.items.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
    expect(history.body.data.items[1]).toEqual(body.data.assistant_message);

    const read = await t.json('GET', `/api/v1/sessions/${sessionId}/`);
    expect(read.body.data.id).toBe(sessionId);
  });

  test('the conversation history reaches the model on the next message', async () => {
    const session = await t.json('POST', '/api/v1/sessions', { body: { assistant_id: assistantId } });
    const sessionId = session.body.data.id;
    await t.json('POST', `/api/v1/sessions/${sessionId}/messages`, { body: { content: 'My order number is 4711' } });
    await t.json('POST', `/api/v1/sessions/${sessionId}/messages`, { body: { content: 'Where is it?' } });
    const prompt = lastPrompt();
    expect(prompt.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(prompt[1].content).toBe('My order number is 4711');
    expect(prompt[3].content).toBe('Where is it?');
  });

  test('an empty message is refused naming the content field', async () => {
    const session = await t.json('POST', '/api/v1/sessions', { body: { assistant_id: assistantId } });
    const { status, body } = await t.json('POST', `/api/v1/sessions/${session.body.data.id}/messages`, { body: { content: '  ' } });
    expect(status).toBe(422);
    expect(body.data.errors).toEqual([{ field: 'content', message: 'must not be empty' }]);
  });

  test('a session for an unknown assistant answers 404', async () => {
    const { status, body } = await t.json('POST', '/api/v1/sessions/', {
      body: { assistant_id: '550e8400-e29b-41d4-a716-446655440000' },
    });
    expect(status).toBe(404);
    expect(body.detail).toContain('550e8400-e29b-41d4-a716-446655440000');
  });

  test('the customer support use case runs as written: widget token, session, message', async () => {
    const base = 'http://gateway.test';
    const fetch = (url: string, init: RequestInit) => t.app.fetch(new Request(url, init));

    // 1. Get widget token for browser-based chat
    const tokenResponse = await fetch(`${base}/api/v1/auth/widget-token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_id: t.org.clientId }),
    });
    const tokenReply = await tokenResponse.json();
    expect(tokenReply).toEqual({ token: expect.any(String), expires_in: 3600, token_type: 'Bearer' });
    const token = tokenReply.token;

    // 2. Create a session for anonymous visitor
    const sessionResponse = await fetch(`${base}/api/v1/sessions/`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ assistant_id: assistantId, visitor_id: 'visitor-' + Date.now(), metadata: { source: 'support_widget' } }),
    });
    const session = await sessionResponse.json();
    expect(sessionResponse.status).toBe(201);

    // 3. Send customer message and get AI response
    const messageResponse = await fetch(`${base}/api/v1/sessions/${session.data.id}/messages`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ content: 'I need help with my order', metadata: { user_type: 'customer' } }),
    });
    const result = await messageResponse.json();
    expect(messageResponse.status).toBe(201);
    expect(result.data.assistant_message.content).toBe('You said: I need help with my order');

    // The reference's short "Create Session" fetch example: only assistant_id, no trailing slash.
    const short = await fetch(`${base}/api/v1/sessions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ assistant_id: assistantId }),
    });
    expect(short.status).toBe(201);
  });
});

describe('when the model cannot answer', () => {
  test('an unreachable Ollama gives a 503 naming the host and `ollama serve`, and the message is kept', async () => {
    const down = await createTestApp({ ollamaHost: 'http://127.0.0.1:9' });
    try {
      const assistant = await down.json('POST', '/api/v1/assistants', { body: { name: 'Bot' } });
      const session = await down.json('POST', '/api/v1/sessions', { body: { assistant_id: assistant.body.data.id } });
      const sent = await down.json('POST', `/api/v1/sessions/${session.body.data.id}/messages`, { body: { content: 'Anyone there?' } });
      expect(sent.status).toBe(503);
      expect(sent.body).toMatchObject({ status: 'error', status_code: 503, data: null });
      expect(sent.body.detail).toContain('http://127.0.0.1:9');
      expect(sent.body.detail).toContain('ollama serve');
      expect(sent.headers.get('retry-after')).toBeTruthy();

      const history = await down.json('GET', `/api/v1/sessions/${session.body.data.id}/messages`);
      expect(history.body.data.items[0]).toMatchObject({ role: 'user', content: 'Anyone there?' });
      expect(history.body.data.items[1]).toMatchObject({ role: 'assistant', status: 'failed', content: '' });
    } finally {
      await down.close();
    }
  });

  test('a model Ollama has not pulled gives a 503 naming `ollama pull <model>`', async () => {
    const assistant = await t.json('POST', '/api/v1/assistants', { body: { name: 'Mistral bot', model: 'mistral:7b' } });
    const session = await t.json('POST', '/api/v1/sessions', { body: { assistant_id: assistant.body.data.id } });
    const sent = await t.json('POST', `/api/v1/sessions/${session.body.data.id}/messages`, { body: { content: 'Hi' } });
    expect(sent.status).toBe(503);
    expect(sent.body.detail).toContain('ollama pull mistral:7b');
    const history = await t.json('GET', `/api/v1/sessions/${session.body.data.id}/messages`);
    expect(history.body.data.items[0]).toMatchObject({ role: 'user', content: 'Hi' });
  });

  test('a model that dies mid-reply leaves the partial reply stored as incomplete', async () => {
    t.ollama.setBehavior({ reply: 'one two three four five six', failAfterTokens: 2 });
    try {
      const session = await t.json('POST', '/api/v1/sessions', { body: { assistant_id: assistantId } });
      const sent = await t.json('POST', `/api/v1/sessions/${session.body.data.id}/messages`, { body: { content: 'Count' } });
      expect(sent.status).toBe(201);
      expect(sent.body.data.assistant_message.status).toBe('incomplete');
      expect(sent.body.data.assistant_message.content).toBe('one two');
      expect(sent.body.data.assistant_message.error).toMatch(/stopped|interrupted|dropped/i);
    } finally {
      t.ollama.setBehavior({ reply: (r) => `You said: ${r.messages.at(-1)!.content}`, failAfterTokens: null });
    }
  });
});

describe('user contexts and conversations', () => {
  test('the reference user context example creates a context; sending it again merges the traits', async () => {
    const body = {
      user_reference: 'user-456',
      traits: {
        name: 'John Doe',
        email: 'john@example.com',
        subscription_tier: 'premium',
        preferences: { language: 'en', notifications: true },
      },
    };
    const first = await t.json('POST', '/api/v1/contexts/', { body });
    expect(first.status).toBe(201);
    expect(first.body.data).toMatchObject(body);

    const again = await t.json('POST', '/api/v1/contexts/', {
      body: { user_reference: 'user-456', traits: { preferences: { notifications: false }, plan: 'annual' } },
    });
    expect(again.status).toBe(200);
    expect(again.body.data.id).toBe(first.body.data.id);
    expect(again.body.data.traits).toEqual({ ...body.traits, preferences: { language: 'en', notifications: false }, plan: 'annual' });
  });

  test('a context is read by id or by user reference, updated by merging and deleted', async () => {
    const created = await t.json('POST', '/api/v1/contexts', { body: { user_reference: 'user-789', traits: { name: 'Ann', tier: 'free' } } });
    const id = created.body.data.id;
    expect((await t.json('GET', `/api/v1/contexts/${id}`)).body.data.user_reference).toBe('user-789');
    expect((await t.json('GET', '/api/v1/contexts/user-789/')).body.data.id).toBe(id);

    const updated = await t.json('PATCH', '/api/v1/contexts/user-789', { body: { traits: { tier: 'premium', name: null } } });
    expect(updated.status).toBe(200);
    expect(updated.body.data.traits).toEqual({ tier: 'premium' });

    const removed = await t.json('DELETE', `/api/v1/contexts/${id}`);
    expect(removed.status).toBe(200);
    expect(removed.body.data).toBeNull();
    expect((await t.json('GET', '/api/v1/contexts/user-789')).status).toBe(404);
  });

  test('merges sent at the same moment all land', async () => {
    await t.json('POST', '/api/v1/contexts', { body: { user_reference: 'busy-user', traits: {} } });
    const keys = Array.from({ length: 10 }, (_, i) => `key${i}`);
    const replies = await Promise.all(keys.map((key) => t.json('PATCH', '/api/v1/contexts/busy-user', { body: { traits: { [key]: true } } })));
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    const stored = await t.json('GET', '/api/v1/contexts/busy-user');
    expect(Object.keys(stored.body.data.traits).sort()).toEqual([...keys].sort());
  });

  test('traits that are not an object are refused naming the field', async () => {
    const { status, body } = await t.json('POST', '/api/v1/contexts', { body: { user_reference: 'u-1', traits: ['a'] } });
    expect(status).toBe(422);
    expect(body.data.errors[0].field).toBe('traits');
  });

  test('the reference conversation example creates a conversation and lists it by customer', async () => {
    const { status, body } = await t.json('POST', '/api/v1/conversations/', {
      body: { assistant_id: assistantId, customer_id: 'user-456', title: 'Order Support', locale: 'en' },
    });
    expect(status).toBe(201);
    expect(body.data).toMatchObject({ assistant_id: assistantId, customer_id: 'user-456', title: 'Order Support', locale: 'en' });
    // The context whose reference is the customer id is linked.
    const context = await t.json('GET', '/api/v1/contexts/user-456');
    expect(body.data.user_context_id).toBe(context.body.data.id);

    const listed = await t.json('GET', '/api/v1/conversations/?customer_id=user-456');
    expect(listed.status).toBe(200);
    expect(listed.body.data.items.map((c: { id: string }) => c.id)).toContain(body.data.id);
    expect(listed.body.data.items.every((c: { customer_id: string }) => c.customer_id === 'user-456')).toBe(true);
    const none = await t.json('GET', '/api/v1/conversations?customer_id=nobody');
    expect(none.body.data).toMatchObject({ items: [], total: 0 });

    const read = await t.json('GET', `/api/v1/conversations/${body.data.id}`);
    expect(read.body.data).toEqual(body.data);
  });

  test('the e-commerce use case runs as written: context, conversation, message with the traits in the prompt', async () => {
    const headers = { 'X-API-Key': t.org.clientId, 'X-API-Secret': t.org.clientSecret, 'Content-Type': 'application/json' };
    const fetch = (path: string, body: unknown) =>
      t.app.fetch(new Request(`http://gateway.test${path}`, { method: 'POST', headers, body: JSON.stringify(body) }));

    const contextReply = await fetch('/api/v1/contexts/', {
      user_reference: 'user-123',
      traits: { name: 'Alice', purchase_history: ['laptop-1', 'mouse-2'], preferences: { category: 'electronics' } },
    });
    expect(contextReply.status).toBe(201);

    const conversationReply = await fetch('/api/v1/conversations/', {
      assistant_id: assistantId,
      customer_id: 'user-123',
      user_context_id: 'user-123',
      title: 'Product Recommendations',
      metadata: { source: 'product_page' },
    });
    const conversation = await conversationReply.json();
    expect(conversationReply.status).toBe(201);
    expect(conversation.data.metadata).toEqual({ source: 'product_page' });

    const messageReply = await fetch(`/api/v1/conversations/${conversation.data.id}/messages`, {
      content: 'What laptop do you recommend?',
      metadata: { context: 'product_inquiry' },
    });
    const result = await messageReply.json();
    expect(messageReply.status).toBe(201);
    expect(result.data.assistant_message.content).toBe('You said: What laptop do you recommend?');

    const system = lastPrompt()[0].content;
    expect(system).toContain('Alice');
    expect(system).toContain('laptop-1');
    expect(system).toContain('electronics');

    const messages = await t.json('GET', `/api/v1/conversations/${conversation.data.id}/messages/`);
    expect(messages.body.data.items).toHaveLength(2);
  });

  test('a conversation naming an unknown user context answers 404', async () => {
    const { status } = await t.json('POST', '/api/v1/conversations', {
      body: { assistant_id: assistantId, user_context_id: 'nobody-knows-me' },
    });
    expect(status).toBe(404);
  });

  test('an inactive assistant cannot start chats', async () => {
    const assistant = await t.json('POST', '/api/v1/assistants', { body: { name: 'Retired', is_active: false } });
    const { status, body } = await t.json('POST', '/api/v1/conversations', { body: { assistant_id: assistant.body.data.id } });
    expect(status).toBe(409);
    expect(body.detail).toContain('is_active');
  });
});
