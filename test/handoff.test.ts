// Handing a chat to a person, through REST as a client and a visitor would:
// the model stops being asked, the operator's messages are stored and seen live,
// and after handing back the assistant answers again with them in its history.
import { createClient, type Client } from 'graphql-ws';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { createTestApp, type TestApp } from './utils/app.ts';
import { collectEvents } from './utils/sse.ts';
import { startWebhookReceiver, type WebhookReceiver } from './utils/webhook-receiver.ts';

let t: TestApp;
let receiver: WebhookReceiver;
let assistantId: string;
let wsUrl: string;
let url: string;
const clients: Client[] = [];

beforeAll(async () => {
  t = await createTestApp({ env: { WEBHOOK_ALLOW_HOSTS: '127.0.0.1' } });
  ({ url, wsUrl } = await t.listen());
  receiver = await startWebhookReceiver();
  assistantId = (await t.json('POST', '/api/v1/assistants', { body: { name: 'Front desk' } })).body.data.id;
});
afterAll(async () => {
  for (const client of clients) await client.dispose();
  await t.close();
  await receiver.close();
});

const modelCalls = () => t.ollama.requests.filter((r) => r.path === '/api/chat').length;
const lastPrompt = () => (t.ollama.requests.filter((r) => r.path === '/api/chat').at(-1)!.body as { messages: Array<{ role: string; content: string }> }).messages;

async function widgetToken() {
  return (await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: t.org.clientId }, auth: null })).body.token as string;
}

describe('a person takes over a conversation', () => {
  test('the model is not asked while an operator answers; the history shows the operator; handback lets the assistant answer again', async () => {
    const conversation = (await t.json('POST', '/api/v1/conversations', { body: { assistant_id: assistantId, customer_id: 'cust-9' } })).body.data;
    expect(conversation.handoff).toBe('none');
    const path = `/api/v1/conversations/${conversation.id}`;
    const answered = await t.json('POST', `${path}/messages`, { body: { content: 'My invoice is wrong' } });
    expect(answered.body.data.assistant_message.content).toBe('You said: My invoice is wrong');

    // A watcher (an agent's console, the widget) subscribed to the conversation.
    const watcher = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { 'X-API-Key': t.org.clientId, 'X-API-Secret': t.org.clientSecret }, retryAttempts: 0 });
    clients.push(watcher);
    const seen: any[] = [];
    const stop = watcher.subscribe(
      {
        query: `subscription ($id: ID!) { conversationEvents(conversationId: $id) { __typename
          ... on OperatorMessage { message { role content operator } }
          ... on HandoffChanged { state operator }
          ... on MessageReceived { userMessage { content } }
          ... on MessageCompleted { assistantMessage { id } } } }`,
        variables: { id: conversation.id },
      },
      { next: (item) => seen.push((item.data as any).conversationEvents), error: () => {}, complete: () => {} },
    );
    await new Promise((resolve) => setTimeout(resolve, 200));

    const taken = await t.json('POST', `${path}/handoff`, { body: { operator: 'Dana' } });
    expect(taken.status).toBe(200);
    expect(taken.body.data).toMatchObject({ id: conversation.id, handoff: 'active', handoff_operator: 'Dana' });

    const calls = modelCalls();
    const unanswered = await t.json('POST', `${path}/messages`, { body: { content: 'Hello? Is anyone there?' } });
    expect(unanswered.status).toBe(201);
    expect(unanswered.body.data.user_message.content).toBe('Hello? Is anyone there?');
    expect(unanswered.body.data.assistant_message).toBeNull();
    // Streaming asks the model no more either: the stream ends with done and no reply.
    const streamed = await fetch(`${url}${path}/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', 'X-API-Key': t.org.clientId, 'X-API-Secret': t.org.clientSecret },
      body: JSON.stringify({ content: 'Still waiting' }),
    });
    const events = await collectEvents(streamed);
    expect(events.map((e) => e.event)).not.toContain('token');
    expect(JSON.parse(events.at(-1)!.data).data.assistant_message).toBeNull();
    expect(modelCalls()).toBe(calls);

    const wrote = await t.json('POST', `${path}/operator-messages`, { body: { content: 'Hi, Dana here. I have corrected the invoice.', operator: 'Dana' } });
    expect(wrote.status).toBe(201);
    expect(wrote.body.data).toMatchObject({ role: 'operator', operator: 'Dana', content: 'Hi, Dana here. I have corrected the invoice.', status: 'complete' });

    const history = (await t.json('GET', `${path}/messages`)).body.data.items;
    expect(history.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant', 'user', 'user', 'operator']);
    expect(history.at(-1)).toMatchObject({ operator: 'Dana', content: 'Hi, Dana here. I have corrected the invoice.' });

    const back = await t.json('POST', `${path}/handback`);
    expect(back.status).toBe(200);
    expect(back.body.data).toMatchObject({ handoff: 'none', handoff_operator: null });
    const again = await t.json('POST', `${path}/messages`, { body: { content: 'Thanks, one more question' } });
    expect(again.body.data.assistant_message.content).toBe('You said: Thanks, one more question');
    expect(modelCalls()).toBe(calls + 1);
    // The operator's message reaches the model on the assistant's side, marked as a person's.
    const operatorTurn = lastPrompt().find((m) => m.content.includes('I have corrected the invoice'));
    expect(operatorTurn?.role).toBe('assistant');
    expect(operatorTurn?.content).toMatch(/person from the support team/);

    await new Promise((resolve) => setTimeout(resolve, 100));
    stop();
    expect(seen).toContainEqual({ __typename: 'HandoffChanged', state: 'active', operator: 'Dana' });
    // The visitor's message shows, and watchers are told no reply from the model is coming.
    const waiting = seen.findIndex((e) => e.__typename === 'MessageReceived' && e.userMessage.content === 'Hello? Is anyone there?');
    expect(seen[waiting + 1]).toEqual({ __typename: 'MessageCompleted', assistantMessage: null });
    expect(seen).toContainEqual({ __typename: 'OperatorMessage', message: { role: 'operator', content: 'Hi, Dana here. I have corrected the invoice.', operator: 'Dana' } });
    expect(seen).toContainEqual({ __typename: 'HandoffChanged', state: 'none', operator: null });
  });

  test('operator messages need a person to have taken over, and handing back needs a handoff', async () => {
    const conversation = (await t.json('POST', '/api/v1/conversations', { body: { assistant_id: assistantId } })).body.data;
    const path = `/api/v1/conversations/${conversation.id}`;
    const early = await t.json('POST', `${path}/operator-messages`, { body: { content: 'Hi', operator: 'Sam' } });
    expect(early.status).toBe(409);
    expect(early.body.detail).toContain('"operator"');
    expect((await t.json('POST', `${path}/handback`)).status).toBe(409);
    const missing = await t.json('POST', `${path}/operator-messages`, { body: { content: 'Hi' } });
    expect(missing.status).toBe(422);
    expect(missing.body.data.errors).toEqual([{ field: 'operator', message: 'is required' }]);
    expect((await t.json('POST', `${path}/handoff`, { auth: t.otherOrg })).status).toBe(404);
  });
});

describe('a visitor asks for a person', () => {
  test('a widget token\'s request sets the session to requested and fires handoff.requested once', async () => {
    const hook = (await t.json('POST', '/api/v1/webhooks', { body: { url: receiver.url, events: ['handoff.requested'] } })).body.data;
    const token = await widgetToken();
    const session = (await t.json('POST', '/api/v1/sessions', { body: { assistant_id: assistantId }, auth: { token } })).body.data;
    const path = `/api/v1/sessions/${session.id}`;
    const before = receiver.received.length;

    const asked = await t.json('POST', `${path}/handoff`, { auth: { token } });
    expect(asked.status).toBe(200);
    expect(asked.body.data).toMatchObject({ handoff: 'requested', handoff_operator: null });
    // Asking twice changes nothing and fires nothing more.
    const twice = await t.json('POST', `${path}/handoff`, { body: { reason: 'still here' }, auth: { token } });
    expect(twice.body.data.handoff).toBe('requested');

    const [delivery] = (await receiver.waitFor(before + 1)).slice(before);
    const event = new Webhook(hook.secret).verify(delivery.body, delivery.headers) as any;
    expect(event).toMatchObject({ type: 'handoff.requested', data: { session_id: session.id, assistant_id: assistantId, state: 'requested', requested_by: 'widget' } });
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(receiver.received.length).toBe(before + 1);

    // The assistant still answers while the visitor waits.
    const reply = await t.json('POST', `${path}/messages`, { body: { content: 'Anyone?' }, auth: { token } });
    expect(reply.body.data.assistant_message.content).toBe('You said: Anyone?');

    // The organization sees who waits; the visitor cannot take over or write as an operator.
    const waiting = await t.json('GET', '/api/v1/sessions/?handoff=requested');
    expect(waiting.body.data.items.map((s: { id: string }) => s.id)).toContain(session.id);
    const active = await t.json('GET', '/api/v1/sessions/?handoff=active');
    expect(active.body.data.items.map((s: { id: string }) => s.id)).not.toContain(session.id);
    expect((await t.json('GET', '/api/v1/sessions/?handoff=maybe')).status).toBe(422);
    expect((await t.json('POST', `${path}/handoff`, { body: { operator: 'Me' }, auth: { token } })).status).toBe(403);
    expect((await t.json('POST', `${path}/operator-messages`, { body: { content: 'x', operator: 'Me' }, auth: { token } })).status).toBe(403);
    // Another visitor's token does not find the session.
    expect((await t.json('POST', `${path}/handoff`, { auth: { token: await widgetToken() } })).status).toBe(404);

    const taken = await t.json('POST', `${path}/handoff`, { body: { operator: 'Ana' } });
    expect(taken.body.data).toMatchObject({ handoff: 'active', handoff_operator: 'Ana' });
    const shown = await t.json('GET', `${path}`, { auth: { token } });
    expect(shown.body.data).toMatchObject({ handoff: 'active', handoff_operator: 'Ana' });
    await t.json('DELETE', `/api/v1/webhooks/${hook.id}`);
  });
});
