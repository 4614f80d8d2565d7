// Stopping a reply and resuming its stream, through real HTTP against a
// gateway on PGlite, with a model that writes one token every 50 ms.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../src/app.ts';
import { openDatabase } from '../src/db/database.ts';
import { createLlm } from '../src/llm/ollama.ts';
import { createTestApp, type TestApp } from './utils/app.ts';
import { throwawaySchema } from './utils/postgres.ts';
import { collectEvents, readEvents, type SseEvent } from './utils/sse.ts';

const WORDS = Array.from({ length: 40 }, (_, i) => `word${i}`);
const REPLY = WORDS.join(' ');

let t: TestApp;
let url: string;
let assistantId: string;

beforeAll(async () => {
  t = await createTestApp({ ollama: { reply: REPLY, tokenDelayMs: 50 } });
  ({ url } = await t.listen());
  assistantId = (await t.json('POST', '/api/v1/assistants', { body: { name: 'Slow talker' } })).body.data.id;
});
afterAll(async () => t.close());

type Auth = Record<string, string>;
const apiKey = (): Auth => ({ 'X-API-Key': t.org.clientId, 'X-API-Secret': t.org.clientSecret });

async function newSession(auth: Auth = apiKey()): Promise<string> {
  const response = await fetch(`${url}/api/v1/sessions`, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ assistant_id: assistantId }),
  });
  return (await response.json()).data.id;
}

function send(thread: string, content: string, options: { auth?: Auth; signal?: AbortSignal } = {}) {
  return fetch(`${url}/api/v1/${thread}/messages`, {
    method: 'POST',
    signal: options.signal,
    headers: { ...(options.auth ?? apiKey()), 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify({ content }),
  });
}

async function call(method: string, path: string, auth: Auth = apiKey(), headers: Record<string, string> = {}) {
  const response = await fetch(`${url}${path}`, { method, headers: { ...auth, ...headers } });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

const deltasOf = (events: SseEvent[]) => events.filter((e) => e.event === 'token').map((e) => JSON.parse(e.data).delta as string).join('');

async function storedReply(sessionId: string, replyId: string) {
  const items = (await call('GET', `/api/v1/sessions/${sessionId}/messages`)).body.data.items as any[];
  return items.find((item) => item.id === replyId);
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('the start event and event ids', () => {
  test('a streamed reply opens with a start event naming both messages, and every event has the next id', async () => {
    const sessionId = await newSession();
    const events = await collectEvents(await send(`sessions/${sessionId}`, 'Hello'));
    expect(events[0].event).toBe('start');
    const start = JSON.parse(events[0].data);
    expect(start.user_message).toMatchObject({ role: 'user', content: 'Hello' });
    expect(start.assistant_message).toMatchObject({ role: 'assistant', status: 'streaming', content: '' });
    expect(events.map((e) => Number(e.id))).toEqual(events.map((_, i) => i + 1));
    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    const reply = JSON.parse(done.data).data.assistant_message;
    expect(reply).toMatchObject({ id: start.assistant_message.id, status: 'complete', content: REPLY });
    expect(deltasOf(events)).toBe(REPLY);
  });

  test('GraphQL stream payloads carry the same event ids', async () => {
    const sessionId = await newSession();
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { ...apiKey(), 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify({
        query: `subscription ($id: ID!) { streamSessionMessage(sessionId: $id, input: { content: "Hi" }) {
          __typename
          ... on MessageStarted { eventId assistantMessage { id status } }
          ... on MessageDelta { eventId delta assistantMessageId }
          ... on MessageCompleted { eventId assistantMessage { id content } }
        } }`,
        variables: { id: sessionId },
      }),
    });
    const payloads = (await collectEvents(response)).filter((e) => e.event === 'next').map((e) => JSON.parse(e.data).data.streamSessionMessage);
    expect(payloads[0].__typename).toBe('MessageReceived');
    const reply = payloads.slice(1);
    expect(reply[0]).toMatchObject({ __typename: 'MessageStarted', eventId: 1, assistantMessage: { status: 'streaming' } });
    expect(reply.map((p) => p.eventId)).toEqual(reply.map((_, i) => i + 1));
    expect(reply.filter((p) => p.__typename === 'MessageDelta').every((p) => p.assistantMessageId === reply[0].assistantMessage.id)).toBe(true);
    expect(reply.at(-1)).toMatchObject({ __typename: 'MessageCompleted', assistantMessage: { id: reply[0].assistantMessage.id, content: REPLY } });
  });
});

describe('stopping a reply', () => {
  test('a reply stopped after three tokens is stored as stopped with exactly what was streamed, and its stream ends with done', async () => {
    const sessionId = await newSession();
    const before = t.ollama.requests.length;
    const events: SseEvent[] = [];
    let stopped: Promise<Awaited<ReturnType<typeof call>>> | undefined;
    for await (const event of readEvents(await send(`sessions/${sessionId}`, 'Talk slowly'))) {
      events.push(event);
      const replyId = JSON.parse(events[0].data).assistant_message.id;
      if (event.event === 'token' && events.filter((e) => e.event === 'token').length === 3) {
        stopped = call('POST', `/api/v1/sessions/${sessionId}/messages/${replyId}/stop`);
      }
    }
    const answer = await stopped!;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: 'success', status_code: 200, data: { status: 'stopped' } });
    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    const reply = JSON.parse(done.data).data.assistant_message;
    const streamed = deltasOf(events);
    expect(reply).toMatchObject({ status: 'stopped', content: streamed });
    expect(answer.body.data.content).toBe(streamed);
    expect(streamed.length).toBeLessThan(REPLY.length);
    expect(REPLY.startsWith(streamed)).toBe(true);
    expect(await storedReply(sessionId, reply.id)).toMatchObject({ status: 'stopped', content: streamed, error: null });
    // The model was told to stop too.
    const chat = t.ollama.requests.slice(before).find((r) => r.path === '/api/chat')!;
    await chat.settled;
    expect(chat.aborted).toBe(true);
    // A stopped reply is history: the next message is answered with it in the prompt.
    const next = await collectEvents(await send(`sessions/${sessionId}`, 'Go on'));
    expect(next.at(-1)!.event).toBe('done');
    const prompt = (t.ollama.requests.filter((r) => r.path === '/api/chat').at(-1)!.body as any).messages;
    expect(prompt).toContainEqual({ role: 'assistant', content: streamed });
  });

  test('stopping through GraphQL ends the reply of a conversation as well', async () => {
    const created = await fetch(`${url}/api/v1/conversations`, {
      method: 'POST',
      headers: { ...apiKey(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ assistant_id: assistantId, customer_id: 'stop-1' }),
    });
    const conversationId = (await created.json()).data.id;
    const events: SseEvent[] = [];
    for await (const event of readEvents(await send(`conversations/${conversationId}`, 'Hello'))) {
      events.push(event);
      if (events.length === 3) {
        const id = JSON.parse(events[0].data).assistant_message.id;
        const result = await t.graphql(`mutation ($id: ID!) { stopMessage(id: $id) { id status content } }`, { id });
        expect(result.body.data.stopMessage).toMatchObject({ id, status: 'stopped' });
      }
    }
    expect(events.at(-1)!.event).toBe('done');
    expect(JSON.parse(events.at(-1)!.data).data.assistant_message).toMatchObject({ status: 'stopped', content: deltasOf(events) });
  });

  test('stopping a finished reply is 409, an unknown or foreign one 404, the user\'s message 409', async () => {
    const sessionId = await newSession();
    const events = await collectEvents(await send(`sessions/${sessionId}`, 'Quick'));
    const { user_message, assistant_message } = JSON.parse(events.at(-1)!.data).data;
    const finished = await call('POST', `/api/v1/sessions/${sessionId}/messages/${assistant_message.id}/stop`);
    expect(finished.status).toBe(409);
    expect(finished.body).toMatchObject({ status: 'error', status_code: 409, data: null });
    expect(finished.body.detail).toMatch(/already finished.*complete/);
    expect((await call('POST', `/api/v1/sessions/${sessionId}/messages/${user_message.id}/stop`)).status).toBe(409);
    expect((await call('POST', `/api/v1/sessions/${sessionId}/messages/00000000-0000-4000-8000-000000000000/stop`)).status).toBe(404);
    expect((await call('POST', `/api/v1/sessions/${sessionId}/messages/not-an-id/stop`)).status).toBe(404);
    // Another thread's path, another organization: as if it did not exist.
    const other = await newSession();
    expect((await call('POST', `/api/v1/sessions/${other}/messages/${assistant_message.id}/stop`)).status).toBe(404);
    const globex = { 'X-API-Key': t.otherOrg.clientId, 'X-API-Secret': t.otherOrg.clientSecret };
    expect((await call('POST', `/api/v1/sessions/${sessionId}/messages/${assistant_message.id}/stop`, globex)).status).toBe(404);
    expect((await call('GET', `/api/v1/sessions/${sessionId}/messages/${assistant_message.id}/stop`)).status).toBe(405);
  });

  test('a widget token stops the replies of its own session, and no other visitor\'s', async () => {
    const mint = async () => {
      const response = await fetch(`${url}/api/v1/auth/widget-token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: t.org.clientId }),
      });
      return { Authorization: `Bearer ${(await response.json()).token}` };
    };
    const visitor = await mint();
    const stranger = await mint();
    const sessionId = await newSession(visitor);
    const events: SseEvent[] = [];
    for await (const event of readEvents(await send(`sessions/${sessionId}`, 'Hi', { auth: visitor }))) {
      events.push(event);
      if (events.length === 3) {
        const id = JSON.parse(events[0].data).assistant_message.id;
        expect((await call('POST', `/api/v1/sessions/${sessionId}/messages/${id}/stop`, stranger)).status).toBe(404);
        expect((await call('POST', `/api/v1/sessions/${sessionId}/messages/${id}/stop`, visitor)).status).toBe(200);
      }
    }
    expect(JSON.parse(events.at(-1)!.data).data.assistant_message.status).toBe('stopped');
  });
});

describe('resuming a stream', () => {
  test('a stream dropped after a few tokens, resumed with Last-Event-ID, rebuilds the stored reply exactly', async () => {
    const sessionId = await newSession();
    const controller = new AbortController();
    const first: SseEvent[] = [];
    for await (const event of readEvents(await send(`sessions/${sessionId}`, 'Keep going', { signal: controller.signal }))) {
      first.push(event);
      if (first.length === 5) break;
    }
    controller.abort();
    const replyId = JSON.parse(first[0].data).assistant_message.id;
    const lastId = first.at(-1)!.id!;
    const resumed = await fetch(`${url}/api/v1/sessions/${sessionId}/messages/${replyId}/events`, {
      headers: { ...apiKey(), Accept: 'text/event-stream', 'Last-Event-ID': lastId },
    });
    expect(resumed.status).toBe(200);
    const rest = await collectEvents(resumed);
    expect(Number(rest[0].id)).toBe(Number(lastId) + 1);
    expect(rest.map((e) => Number(e.id))).toEqual(rest.map((_, i) => Number(lastId) + 1 + i));
    expect(rest.at(-1)!.event).toBe('done');
    const stored = await until(() => storedReply(sessionId, replyId), (reply) => reply.status !== 'streaming');
    expect(JSON.parse(rest.at(-1)!.data).data.assistant_message).toMatchObject({ id: replyId, status: stored.status, content: stored.content });
    expect(deltasOf(first) + deltasOf(rest)).toBe(stored.content);
  });

  test('a second client follows a reply live from the middle, and a finished reply replays whole, ending with done', async () => {
    const sessionId = await newSession();
    const sender = readEvents(await send(`sessions/${sessionId}`, 'Tell me'));
    const opening: SseEvent[] = [];
    for await (const event of sender) {
      opening.push(event);
      if (opening.length === 4) break;
    }
    const replyId = JSON.parse(opening[0].data).assistant_message.id;
    const path = `/api/v1/sessions/${sessionId}/messages/${replyId}/events`;
    // The sender's stream was left at event 4; another tab picks the reply up after event 2 and follows it live.
    const follower = await collectEvents(await fetch(`${url}${path}`, { headers: { ...apiKey(), Accept: 'text/event-stream', 'Last-Event-ID': '2' } }));
    expect(follower[0].id).toBe('3');
    expect(follower.at(-1)!.event).toBe('done');
    const stored = await until(() => storedReply(sessionId, replyId), (reply) => reply.status !== 'streaming');
    expect(deltasOf(opening.slice(0, 2)) + deltasOf(follower)).toBe(stored.content);

    // Finished: from the start (the query parameter, for a new EventSource), the whole reply again.
    const whole = await collectEvents(await fetch(`${url}${path}?last_event_id=0`, { headers: { ...apiKey(), Accept: 'text/event-stream' } }));
    expect(whole[0].event).toBe('start');
    expect(whole.at(-1)!.event).toBe('done');
    expect(deltasOf(whole)).toBe(stored.content);
    // After the last event there is nothing more: 204, which also tells an EventSource not to reconnect.
    const after = await call('GET', path, apiKey(), { Accept: 'text/event-stream', 'Last-Event-ID': whole.at(-1)!.id! });
    expect(after.status).toBe(204);
  });

  test('resuming asks for an event stream and a whole-number Last-Event-ID; an unknown reply is 404', async () => {
    const sessionId = await newSession();
    const events = await collectEvents(await send(`sessions/${sessionId}`, 'Short'));
    const replyId = JSON.parse(events[0].data).assistant_message.id;
    const path = `/api/v1/sessions/${sessionId}/messages/${replyId}/events`;
    const plain = await call('GET', path);
    expect(plain.status).toBe(406);
    expect(plain.body.detail).toMatch(/Accept: text\/event-stream/);
    const bad = await call('GET', path, apiKey(), { Accept: 'text/event-stream', 'Last-Event-ID': 'yesterday' });
    expect(bad.status).toBe(422);
    expect(bad.body.data.errors).toEqual([{ field: 'last_event_id', message: expect.stringMatching(/whole number/) }]);
    const unknown = await call('GET', `/api/v1/sessions/${sessionId}/messages/00000000-0000-4000-8000-000000000000/events`, apiKey(), {
      Accept: 'text/event-stream',
    });
    expect(unknown.status).toBe(404);
    const globex = { 'X-API-Key': t.otherOrg.clientId, 'X-API-Secret': t.otherOrg.clientSecret };
    expect((await call('GET', path, globex, { Accept: 'text/event-stream' })).status).toBe(404);
  });
});

describe('past the kept events', () => {
  test('an instance that never kept a finished reply\'s events replays it from the stored reply from the start, and answers 410 from the middle', async () => {
    const schema = await throwawaySchema('gateway_resume');
    const first = await createTestApp({ databaseUrl: schema.url, ollama: { reply: REPLY } });
    // Another instance on the same database, sharing no Redis: the reply's events were kept by the first alone.
    const db = await openDatabase({ databaseUrl: schema.url });
    const other = buildApp({ config: first.config, db, llm: createLlm({ host: first.ollama.url }), runJobs: false });
    try {
      const assistant = (await first.json('POST', '/api/v1/assistants', { body: { name: 'Elsewhere' } })).body.data;
      const session = (await first.json('POST', '/api/v1/sessions', { body: { assistant_id: assistant.id } })).body.data;
      const reply = (await first.json('POST', `/api/v1/sessions/${session.id}/messages`, { body: { content: 'Hi' } })).body.data.assistant_message;
      const events = (lastEventId?: string) =>
        other.fetch(
          new Request(`http://gateway.test/api/v1/sessions/${session.id}/messages/${reply.id}/events`, {
            headers: { 'X-API-Key': first.org.clientId, 'X-API-Secret': first.org.clientSecret, Accept: 'text/event-stream', ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}) },
          }),
        );
      const whole = await collectEvents(await events());
      expect(whole.map((e) => [e.id, e.event])).toEqual([
        ['1', 'start'],
        ['2', 'token'],
        ['3', 'done'],
      ]);
      expect(deltasOf(whole)).toBe(reply.content);
      expect(JSON.parse(whole[2].data).data.assistant_message).toMatchObject({ id: reply.id, status: 'complete', content: REPLY });
      const gone = await events('4');
      expect(gone.status).toBe(410);
      expect((await gone.json()).detail).toMatch(/no longer kept/);
    } finally {
      await other.close();
      await db.close();
      await first.close();
      await schema.drop();
    }
  });
});
