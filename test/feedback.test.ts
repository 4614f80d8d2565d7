// Rating replies through REST and GraphQL: by the API key or the visitor whose
// session holds the reply; shown on the message; listed with filters and
// exported as NDJSON; each rating told to webhooks as feedback.created.
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { authHeaders, createTestApp, type TestApp } from './utils/app.ts';
import { startWebhookReceiver, type WebhookReceiver } from './utils/webhook-receiver.ts';

let t: TestApp;
let receiver: WebhookReceiver;
let assistantId: string;
let otherAssistantId: string;

beforeAll(async () => {
  t = await createTestApp({ env: { WEBHOOK_ALLOW_HOSTS: '127.0.0.1' } });
  receiver = await startWebhookReceiver();
  assistantId = (await t.json('POST', '/api/v1/assistants', { body: { name: 'Rated' } })).body.data.id;
  otherAssistantId = (await t.json('POST', '/api/v1/assistants', { body: { name: 'Other' } })).body.data.id;
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

async function conversationWithReply(content: string, assistant = assistantId) {
  const conversation = (await t.json('POST', '/api/v1/conversations', { body: { assistant_id: assistant } })).body.data;
  const sent = (await t.json('POST', `/api/v1/conversations/${conversation.id}/messages`, { body: { content } })).body.data;
  return { conversationId: conversation.id as string, userMessageId: sent.user_message.id as string, replyId: sent.assistant_message.id as string };
}

describe('giving feedback', () => {
  test('a down-vote with a comment is stored, shown on the message, and replaced by a second rating', async () => {
    const { conversationId, replyId } = await conversationWithReply('Do you ship to Norway?');
    const path = `/api/v1/conversations/${conversationId}/messages/${replyId}/feedback`;
    const given = await t.json('POST', path, { body: { rating: 'down', comment: 'Did not answer the question' } });
    expect(given.status).toBe(201);
    expect(given.body.data).toMatchObject({ message_id: replyId, assistant_id: assistantId, conversation_id: conversationId, rating: 'down', comment: 'Did not answer the question', given_by: 'api_key' });

    const history = (await t.json('GET', `/api/v1/conversations/${conversationId}/messages`)).body.data.items;
    expect(history[0].feedback).toBeNull();
    expect(history[1].feedback).toMatchObject({ rating: 'down', comment: 'Did not answer the question' });

    const again = await t.json('POST', path, { body: { rating: 'up' } });
    expect(again.status).toBe(200);
    expect(again.body.data).toMatchObject({ id: given.body.data.id, rating: 'up', comment: null });
  });

  test('only assistant replies can be rated, with "up" or "down", in the thread that holds them', async () => {
    const { conversationId, userMessageId, replyId } = await conversationWithReply('Hi');
    const base = `/api/v1/conversations/${conversationId}/messages`;
    const user = await t.json('POST', `${base}/${userMessageId}/feedback`, { body: { rating: 'up' } });
    expect(user.status).toBe(422);
    expect(user.body.data.errors[0].field).toBe('message_id');
    const sideways = await t.json('POST', `${base}/${replyId}/feedback`, { body: { rating: 'sideways' } });
    expect(sideways.status).toBe(422);
    expect(sideways.body.data.errors).toEqual([{ field: 'rating', message: 'must be "up" or "down"' }]);
    const none = await t.json('POST', `${base}/${replyId}/feedback`, { body: {} });
    expect(none.body.data.errors).toEqual([{ field: 'rating', message: 'is required' }]);
    const elsewhere = await conversationWithReply('Elsewhere');
    expect((await t.json('POST', `/api/v1/conversations/${elsewhere.conversationId}/messages/${replyId}/feedback`, { body: { rating: 'up' } })).status).toBe(404);
    expect((await t.json('POST', `${base}/${replyId}/feedback`, { body: { rating: 'up' }, auth: t.otherOrg })).status).toBe(404);
  });

  test('the visitor who owns a session rates its replies; another visitor cannot', async () => {
    const token = (await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: t.org.clientId }, auth: null })).body.token;
    const session = (await t.json('POST', '/api/v1/sessions', { body: { assistant_id: assistantId }, auth: { token } })).body.data;
    const reply = (await t.json('POST', `/api/v1/sessions/${session.id}/messages`, { body: { content: 'Thanks!' }, auth: { token } })).body.data.assistant_message;
    const path = `/api/v1/sessions/${session.id}/messages/${reply.id}/feedback`;
    const given = await t.json('POST', path, { body: { rating: 'up' }, auth: { token } });
    expect(given.status).toBe(201);
    expect(given.body.data).toMatchObject({ session_id: session.id, rating: 'up', given_by: 'widget' });
    const stranger = (await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: t.org.clientId }, auth: null })).body.token;
    expect((await t.json('POST', path, { body: { rating: 'down' }, auth: { token: stranger } })).status).toBe(404);
  });
});

describe('reading feedback', () => {
  test('down-voted replies are listed and exported as NDJSON, filtered by assistant and time', async () => {
    const start = new Date().toISOString();
    const bad = await conversationWithReply('Can I pay by cheque?');
    const good = await conversationWithReply('Thanks');
    const other = await conversationWithReply('Other assistant', otherAssistantId);
    const rate = (c: { conversationId: string; replyId: string }, rating: string, comment?: string) =>
      t.json('POST', `/api/v1/conversations/${c.conversationId}/messages/${c.replyId}/feedback`, { body: { rating, comment } });
    await rate(bad, 'down', 'Wrong answer');
    await rate(good, 'up');
    await rate(other, 'down');

    const down = await t.json('GET', `/api/v1/feedback/?rating=down&since=${encodeURIComponent(start)}`);
    expect(down.status).toBe(200);
    expect(down.body.data).toMatchObject({ total: 2, limit: 20, offset: 0 });
    expect(down.body.data.items.map((f: { message_id: string }) => f.message_id).sort()).toEqual([bad.replyId, other.replyId].sort());
    const mine = await t.json('GET', `/api/v1/feedback?rating=down&assistant_id=${assistantId}&since=${encodeURIComponent(start)}`);
    expect(mine.body.data.items).toHaveLength(1);
    expect(mine.body.data.items[0]).toMatchObject({ rating: 'down', comment: 'Wrong answer', message: { id: bad.replyId, content: 'You said: Can I pay by cheque?' } });
    const paged = await t.json('GET', `/api/v1/feedback?since=${encodeURIComponent(start)}&limit=1&offset=1`);
    expect(paged.body.data).toMatchObject({ total: 3, limit: 1, offset: 1 });
    expect(paged.body.data.items).toHaveLength(1);
    const future = await t.json('GET', `/api/v1/feedback?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(future.body.data.total).toBe(0);
    const wrong = await t.json('GET', '/api/v1/feedback?since=yesterday');
    expect(wrong.status).toBe(422);
    expect(wrong.body.data.errors[0].field).toBe('since');
    expect((await t.json('GET', '/api/v1/feedback?rating=meh')).status).toBe(422);
    expect((await t.json('GET', `/api/v1/feedback?since=${encodeURIComponent(start)}`, { auth: t.otherOrg })).body.data.total).toBe(0);

    const exported = await t.request('GET', `/api/v1/feedback/export?rating=down&since=${encodeURIComponent(start)}`);
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const text = await exported.text();
    const lines = text.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(lines.map((f) => f.message_id)).toEqual([bad.replyId, other.replyId]);
    expect(lines[0]).toEqual(mine.body.data.items[0]);
    // Over HTTP, where the server writes the lines to the socket itself, the file is the same.
    const { url } = await t.listen();
    const overHttp = await fetch(`${url}/api/v1/feedback/export?rating=down&since=${encodeURIComponent(start)}`, { headers: authHeaders(t.org) });
    expect(overHttp.headers.get('content-disposition')).toMatch(/^attachment; filename=/);
    expect(await overHttp.text()).toBe(text);
    expect((await t.json('GET', '/api/v1/feedback/export?rating=meh')).status).toBe(422);
  });

  test('GraphQL gives and lists feedback too, and a message shows its rating', async () => {
    const { conversationId, replyId } = await conversationWithReply('GraphQL please');
    const given = await t.graphql(
      `mutation ($c: ID!, $m: ID!) { giveConversationFeedback(conversationId: $c, messageId: $m, input: { rating: "down" }) { created feedback { rating message { id feedback { rating } } } } }`,
      { c: conversationId, m: replyId },
    );
    expect(given.body.data.giveConversationFeedback).toEqual({ created: true, feedback: { rating: 'down', message: { id: replyId, feedback: { rating: 'down' } } } });
    const listed = await t.graphql(`query ($a: ID) { feedback(rating: "down", assistantId: $a, limit: 100) { total items { messageId } } }`, { a: assistantId });
    expect(listed.body.data.feedback.items.map((f: { messageId: string }) => f.messageId)).toContain(replyId);
  });

  test('every rating is told to webhooks as feedback.created', async () => {
    const hook = (await t.json('POST', '/api/v1/webhooks', { body: { url: receiver.url, events: ['feedback.created'] } })).body.data;
    const before = receiver.received.length;
    const { conversationId, replyId } = await conversationWithReply('Tell the hook');
    await t.json('POST', `/api/v1/conversations/${conversationId}/messages/${replyId}/feedback`, { body: { rating: 'down', comment: 'Too vague' } });
    const [delivery] = (await receiver.waitFor(before + 1)).slice(before);
    const event = new Webhook(hook.secret).verify(delivery.body, delivery.headers) as any;
    expect(event).toMatchObject({ type: 'feedback.created', data: { message_id: replyId, conversation_id: conversationId, rating: 'down', comment: 'Too vague' } });
    await t.json('DELETE', `/api/v1/webhooks/${hook.id}`);
  });
});
