// Replies token by token: GraphQL subscriptions over graphql-ws and SSE, REST
// server-sent events, and what happens when either end fails.
import net from 'node:net';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { authHeaders, createTestApp, type TestApp } from './utils/app.ts';
import { collectEvents, readEvents } from './utils/sse.ts';

let t: TestApp;
let url: string;
let wsUrl: string;
let assistantId: string;
const clients: Client[] = [];

const REPLY = 'The quick brown fox jumps over the lazy dog';

beforeAll(async () => {
  t = await createTestApp({ ollama: { reply: REPLY } });
  ({ url, wsUrl } = await t.listen());
  assistantId = (await t.json('POST', '/api/v1/assistants', { body: { name: 'Streamer', temperature: 0.3, max_tokens: 64 } })).body.data.id;
});
afterAll(async () => {
  for (const client of clients) await client.dispose();
  await t.close();
});

function wsClient(connectionParams: Record<string, unknown> = { 'X-API-Key': t.org.clientId, 'X-API-Secret': t.org.clientSecret }) {
  const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });
  clients.push(client);
  return client;
}

async function newSession(): Promise<string> {
  return (await t.json('POST', '/api/v1/sessions', { body: { assistant_id: assistantId } })).body.data.id;
}

const STREAM = /* GraphQL */ `
  subscription ($sessionId: ID!, $content: String!) {
    streamSessionMessage(sessionId: $sessionId, input: { content: $content }) {
      __typename
      ... on MessageReceived { userMessage { id content } }
      ... on MessageDelta { delta }
      ... on MessageCompleted { assistantMessage { id content status model usage { promptTokens completionTokens } latencyMs } }
    }
  }
`;

const WATCH = /* GraphQL */ `
  subscription ($sessionId: ID!) {
    sessionEvents(sessionId: $sessionId) {
      __typename
      ... on MessageDelta { delta }
      ... on MessageCompleted { assistantMessage { content } }
    }
  }
`;

type Item = { data?: any; errors?: any[] };

/** Runs a subscription to its end, collecting every result. */
async function collect(client: Client, query: string, variables: Record<string, unknown>, onItem?: (item: Item, stop: () => void) => void) {
  const items: Item[] = [];
  const iterator = client.iterate({ query, variables });
  const stop = () => void iterator.return?.();
  try {
    for await (const item of iterator) {
      items.push(item as Item);
      onItem?.(item as Item, stop);
    }
  } catch (error) {
    items.push({ errors: [error] });
  }
  return items;
}

const waitFor = async (check: () => boolean, timeoutMs = 5000) => {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('GraphQL over WebSocket', () => {
  test('a message sent by subscription streams its reply token by token, then the stored message', async () => {
    const sessionId = await newSession();
    const items = await collect(wsClient(), STREAM, { sessionId, content: 'Tell me about foxes' });
    const kinds = items.map((i) => i.data?.streamSessionMessage.__typename);
    expect(kinds[0]).toBe('MessageReceived');
    expect(kinds.at(-1)).toBe('MessageCompleted');
    const deltas = items.filter((i) => i.data?.streamSessionMessage.__typename === 'MessageDelta').map((i) => i.data.streamSessionMessage.delta);
    expect(deltas.length).toBeGreaterThan(5);
    expect(deltas.join('')).toBe(REPLY);
    const final = items.at(-1)!.data.streamSessionMessage.assistantMessage;
    expect(final).toMatchObject({ content: REPLY, status: 'complete', model: 'llama3.2' });
    expect(final.usage.completionTokens).toBe(deltas.length);
    expect(final.latencyMs).toBeGreaterThanOrEqual(0);

    // What was streamed is what was stored.
    const history = await t.json('GET', `/api/v1/sessions/${sessionId}/messages`);
    expect(history.body.data.items[1]).toMatchObject({ id: final.id, content: REPLY, status: 'complete' });
  });

  test('the assistant\'s model settings and the context window reach Ollama', async () => {
    const sessionId = await newSession();
    await collect(wsClient(), STREAM, { sessionId, content: 'Settings?' });
    const chat = t.ollama.requests.filter((r) => r.path === '/api/chat').at(-1)!;
    expect((chat.body as any).options).toMatchObject({ temperature: 0.3, num_predict: 64, num_ctx: 8192 });
  });

  test('a second subscriber to the same session sees the same stream', async () => {
    const sessionId = await newSession();
    const watcher = wsClient();
    const watched: Item[] = [];
    let completed = false;
    const dispose = watcher.subscribe({ query: WATCH, variables: { sessionId } }, {
      next: (item) => {
        watched.push(item as Item);
        if ((item as Item).data?.sessionEvents.__typename === 'MessageCompleted') completed = true;
      },
      error: () => {},
      complete: () => {},
    });
    // The watcher's subscription must be registered before the message is sent.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const sent = await collect(wsClient(), STREAM, { sessionId, content: 'Both of you listen' });
    await waitFor(() => completed);
    dispose();
    const deltasOf = (items: Item[], field: string) =>
      items.filter((i) => i.data?.[field]?.__typename === 'MessageDelta').map((i) => i.data[field].delta);
    expect(deltasOf(watched, 'sessionEvents')).toEqual(deltasOf(sent, 'streamSessionMessage'));
    expect(watched.at(-1)!.data.sessionEvents.assistantMessage.content).toBe(REPLY);
  });

  test('unsubscribing mid-reply aborts the Ollama request and stores what was generated as incomplete', async () => {
    t.ollama.setBehavior({ tokenDelayMs: 30 });
    try {
      const sessionId = await newSession();
      const before = t.ollama.requests.length;
      const items = await collect(wsClient(), STREAM, { sessionId, content: 'Stop me' }, (item, stop) => {
        const deltas = item.data?.streamSessionMessage.__typename === 'MessageDelta';
        if (deltas) stop();
      });
      expect(items.some((i) => i.data?.streamSessionMessage.__typename === 'MessageDelta')).toBe(true);
      const chat = t.ollama.requests.slice(before).find((r) => r.path === '/api/chat')!;
      await chat.settled;
      expect(chat.aborted).toBe(true);

      let stored: any;
      for (let i = 0; i < 50 && stored?.status !== 'incomplete'; i++) {
        stored = (await t.json('GET', `/api/v1/sessions/${sessionId}/messages`)).body.data.items[1];
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(stored).toMatchObject({ role: 'assistant', status: 'incomplete' });
      expect(stored.content.length).toBeGreaterThan(0);
      expect(REPLY.startsWith(stored.content)).toBe(true);
      expect(stored.content).not.toBe(REPLY);
    } finally {
      t.ollama.setBehavior({ tokenDelayMs: 0 });
    }
  });

  test('Ollama dying mid-reply ends the stream with an error naming what happened; the partial reply is kept', async () => {
    t.ollama.setBehavior({ failAfterTokens: 3 });
    try {
      const sessionId = await newSession();
      const items = await collect(wsClient(), STREAM, { sessionId, content: 'Fail please' });
      const last = items.at(-1)!;
      expect(last.errors?.[0].extensions.code).toBe('MODEL_UNAVAILABLE');
      expect(last.errors?.[0].message).toMatch(/stopped mid-reply/);
      const history = (await t.json('GET', `/api/v1/sessions/${sessionId}/messages`)).body.data.items;
      expect(history[0]).toMatchObject({ role: 'user', content: 'Fail please' });
      expect(history[1]).toMatchObject({ role: 'assistant', status: 'incomplete' });
      expect(REPLY.startsWith(history[1].content)).toBe(true);
    } finally {
      t.ollama.setBehavior({ failAfterTokens: null });
    }
  });

  test('another visitor\'s session cannot be streamed or watched', async () => {
    const sessionId = await newSession();
    const other = await t.createOrg('Other');
    const items = await collect(wsClient({ 'X-API-Key': other.clientId, 'X-API-Secret': other.clientSecret }), WATCH, { sessionId });
    expect(items[0].errors?.[0]).toBeTruthy();
    expect(JSON.stringify(items[0].errors)).toContain('NOT_FOUND');
  });

  test('a widget token streams in the session it opened', async () => {
    const token = (await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: t.org.clientId }, auth: null })).body.token;
    const session = await t.json('POST', '/api/v1/sessions', { body: { assistant_id: assistantId }, auth: { token } });
    const items = await collect(wsClient({ Authorization: `Bearer ${token}` }), STREAM, { sessionId: session.body.data.id, content: 'Hi from the widget' });
    expect(items.at(-1)!.data.streamSessionMessage.assistantMessage.content).toBe(REPLY);
  });
});

describe('WebSocket connection rules', () => {
  test('each operation over a socket counts against the organization\'s rate limit', async () => {
    const limited = await t.createOrg('Limited', 2);
    const client = wsClient({ 'X-API-Key': limited.clientId, 'X-API-Secret': limited.clientSecret });
    const query = '{ assistants { total } }';
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await collect(client, query, {}));
    expect(results[0][0].data.assistants.total).toBe(0);
    expect(results[1][0].data).toBeTruthy();
    expect(JSON.stringify(results[2][0].errors)).toContain('requests for this hour');
  });

  const rawSocket = (headers: Record<string, string> = {}) => new WebSocket(wsUrl, 'graphql-transport-ws', { headers });
  const closeOf = (socket: WebSocket) => new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));

  test('wrong credentials in connection_init close the socket with 4401', async () => {
    const socket = rawSocket();
    const closed = closeOf(socket);
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { 'X-API-Key': 'nope', 'X-API-Secret': 'nope' } })));
    expect(await closed).toBe(4401);
  });

  test('a browser page from an origin outside CORS_ORIGINS cannot open a socket', async () => {
    const strict = await createTestApp({ env: { CORS_ORIGINS: 'https://shop.example.com' } });
    try {
      const { wsUrl: strictUrl } = await strict.listen();
      const refused = await new Promise<number>((resolve) => {
        const socket = new WebSocket(strictUrl, 'graphql-transport-ws', { headers: { Origin: 'https://evil.example.net' } });
        socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
        socket.on('open', () => resolve(101));
      });
      expect(refused).toBe(403);
      const allowed = await new Promise<boolean>((resolve) => {
        const socket = new WebSocket(strictUrl, 'graphql-transport-ws', { headers: { Origin: 'https://shop.example.com' } });
        socket.on('open', () => {
          socket.close();
          resolve(true);
        });
        socket.on('unexpected-response', () => resolve(false));
      });
      expect(allowed).toBe(true);
    } finally {
      await strict.close();
    }
  });

  test('a client that never sends connection_init is closed with 4408', async () => {
    const socket = rawSocket();
    expect(await closeOf(socket)).toBe(4408);
  }, 15_000);

  test('a message larger than the limit closes the socket', async () => {
    const socket = rawSocket();
    const closed = closeOf(socket);
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { padding: 'x'.repeat(1_100_000) } })));
    expect(await closed).toBe(1009);
  });
});

/** Waits until the model was told to stop the session's reply and the reply is stored as incomplete; returns it. */
async function stoppedReply(sessionId: string, requestsBefore: number) {
  const chat = t.ollama.requests.slice(requestsBefore).find((r) => r.path === '/api/chat')!;
  await chat.settled;
  expect(chat.aborted).toBe(true);
  let stored: any;
  for (let i = 0; i < 100 && stored?.status !== 'incomplete'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    stored = (await t.json('GET', `/api/v1/sessions/${sessionId}/messages`)).body.data.items[1];
  }
  expect(stored).toMatchObject({ status: 'incomplete' });
  return stored;
}

describe('server-sent events', () => {
  test('REST with Accept: text/event-stream streams token events and ends with the same reply as JSON', async () => {
    const sessionId = await newSession();
    const response = await fetch(`${url}/api/v1/sessions/${sessionId}/messages`, {
      method: 'POST',
      headers: { 'X-API-Key': t.org.clientId, 'X-API-Secret': t.org.clientSecret, 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify({ content: 'Stream it' }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const events = await collectEvents(response);
    const tokens = events.filter((e) => e.event === 'token');
    expect(tokens.map((e) => JSON.parse(e.data).delta).join('')).toBe(REPLY);
    expect(events.every((e) => e.id)).toBe(true);
    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    const reply = JSON.parse(done.data);

    // The final event's data is the non-streaming JSON reply.
    const json = await t.json('POST', `/api/v1/sessions/${sessionId}/messages`, { body: { content: 'Stream it' } });
    const shape = (value: unknown): unknown =>
      value && typeof value === 'object' && !Array.isArray(value)
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shape(v)]))
        : typeof value;
    expect(shape(reply)).toEqual(shape(json.body));
    expect(reply).toMatchObject({ status: 'success', status_code: 201, data: { assistant_message: { content: REPLY, status: 'complete' } } });
  });

  test('REST conversations stream too, and without the Accept header the reply stays JSON', async () => {
    const conversation = await t.json('POST', '/api/v1/conversations', { body: { assistant_id: assistantId, customer_id: 'c-1' } });
    const id = conversation.body.data.id;
    const streamed = await t.request('POST', `/api/v1/conversations/${id}/messages`, { body: { content: 'Hi' }, headers: { Accept: 'text/event-stream' } });
    const events = await collectEvents(streamed);
    expect(events.at(-1)!.event).toBe('done');
    const plain = await t.request('POST', `/api/v1/conversations/${id}/messages`, { body: { content: 'Hi' } });
    expect(plain.headers.get('content-type')).toContain('application/json');
  });

  test('a failure before the first token answers with the plain JSON error and its status', async () => {
    const sessionId = await newSession();
    const empty = await t.request('POST', `/api/v1/sessions/${sessionId}/messages`, { body: { content: '' }, headers: { Accept: 'text/event-stream' } });
    expect(empty.status).toBe(422);
    const missing = await t.request('POST', '/api/v1/sessions/00000000-0000-4000-8000-000000000000/messages', {
      body: { content: 'hi' },
      headers: { Accept: 'text/event-stream' },
    });
    expect(missing.status).toBe(404);
    expect((await missing.json()).status).toBe('error');
  });

  test('an unreachable model answers a streaming request with the plain 503 and Retry-After, not an event stream', async () => {
    const down = await createTestApp({ ollamaHost: 'http://127.0.0.1:9' });
    try {
      const assistant = await down.json('POST', '/api/v1/assistants', { body: { name: 'Bot' } });
      const session = await down.json('POST', '/api/v1/sessions', { body: { assistant_id: assistant.body.data.id } });
      const response = await down.request('POST', `/api/v1/sessions/${session.body.data.id}/messages`, {
        body: { content: 'Anyone?' },
        headers: { Accept: 'text/event-stream' },
      });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBeTruthy();
      expect((await response.json()).detail).toContain('ollama serve');
    } finally {
      await down.close();
    }
  });

  test('Ollama dying mid-reply ends the REST stream with an error event carrying the error envelope', async () => {
    t.ollama.setBehavior({ failAfterTokens: 2 });
    try {
      const sessionId = await newSession();
      const response = await t.request('POST', `/api/v1/sessions/${sessionId}/messages`, { body: { content: 'x' }, headers: { Accept: 'text/event-stream' } });
      const events = await collectEvents(response);
      expect(events.filter((e) => e.event === 'token')).toHaveLength(2);
      const last = events.at(-1)!;
      expect(last.event).toBe('error');
      expect(JSON.parse(last.data)).toMatchObject({ status: 'error', status_code: 503, data: null });
    } finally {
      t.ollama.setBehavior({ failAfterTokens: null });
    }
  });

  test('a REST client that disconnects mid-stream stops the generation; the partial reply is stored', async () => {
    t.ollama.setBehavior({ tokenDelayMs: 30 });
    try {
      const sessionId = await newSession();
      const before = t.ollama.requests.length;
      const controller = new AbortController();
      const response = await fetch(`${url}/api/v1/sessions/${sessionId}/messages`, {
        method: 'POST',
        signal: controller.signal,
        headers: { 'X-API-Key': t.org.clientId, 'X-API-Secret': t.org.clientSecret, 'Content-Type': 'application/json', Accept: 'text/event-stream' },
        body: JSON.stringify({ content: 'Leave early' }),
      });
      for await (const event of readEvents(response)) {
        if (event.event === 'token') break;
      }
      controller.abort();
      await stoppedReply(sessionId, before);
    } finally {
      t.ollama.setBehavior({ tokenDelayMs: 0 });
    }
  });

  test('a REST client that stops reading gives up its reply: the generation stops and what was generated is stored', async () => {
    // More than the sockets' buffers hold (a few MB here), so that the server finds the client not reading.
    t.ollama.setBehavior({ reply: Array.from({ length: 10_000 }, (_, i) => `w${i}:${'x'.repeat(1000)}`).join(' ') });
    // The suite's assistant caps its replies at 64 tokens.
    const uncapped = (await t.json('POST', '/api/v1/assistants', { body: { name: 'Talkative' } })).body.data.id;
    const sessionId = (await t.json('POST', '/api/v1/sessions', { body: { assistant_id: uncapped } })).body.data.id;
    const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
    try {
      const before = t.ollama.requests.length;
      const body = JSON.stringify({ content: 'Tell me everything' });
      const headers = { ...authHeaders(t.org), 'Content-Type': 'application/json', Accept: 'text/event-stream', 'Content-Length': Buffer.byteLength(body) };
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(`POST /api/v1/sessions/${sessionId}/messages HTTP/1.1\r\nHost: localhost\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n${body}`);
      // The first bytes arrive, then the client reads nothing more.
      await new Promise((resolve) => socket.once('data', resolve));
      socket.pause();
      expect((await stoppedReply(sessionId, before)).content).toMatch(/^w0:x+ w1:x+ w2:x+ /);
    } finally {
      socket.destroy();
      t.ollama.setBehavior({ reply: REPLY });
    }
  }, 30_000);

  test('while a reply is generated, the history shows it as streaming with its content so far, on REST and GraphQL', async () => {
    t.ollama.setBehavior({ tokenDelayMs: 60 });
    try {
      const sessionId = await newSession();
      const sent = t.json('POST', `/api/v1/sessions/${sessionId}/messages`, { body: { content: 'Take your time' } });
      let items: any[] = [];
      for (let i = 0; i < 200 && !(items[1]?.status === 'streaming' && items[1].content !== ''); i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        items = (await t.json('GET', `/api/v1/sessions/${sessionId}/messages`)).body.data.items;
      }
      expect(items.map((m) => [m.role, m.status])).toEqual([
        ['user', 'complete'],
        ['assistant', 'streaming'],
      ]);
      expect(REPLY.startsWith(items[1].content)).toBe(true);
      expect(items[1].content.length).toBeLessThan(REPLY.length);
      const viaGraphql = await t.graphql(`query ($id: ID!) { session(id: $id) { messages { items { role status content } } } }`, { id: sessionId });
      const [, reply] = viaGraphql.body.data.session.messages.items;
      expect(reply.status).toMatch(/^(streaming|complete)$/);
      expect(REPLY.startsWith(reply.content)).toBe(true);

      const done = (await sent).body.data.assistant_message;
      expect(done).toMatchObject({ id: items[1].id, status: 'complete', content: REPLY });
      const after = (await t.json('GET', `/api/v1/sessions/${sessionId}/messages`)).body.data.items;
      expect(after[1]).toMatchObject({ id: done.id, status: 'complete', content: REPLY });
    } finally {
      t.ollama.setBehavior({ tokenDelayMs: 0 });
    }
  });

  test('GraphQL subscriptions also work over Yoga\'s server-sent events', async () => {
    const sessionId = await newSession();
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'X-API-Key': t.org.clientId, 'X-API-Secret': t.org.clientSecret, 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify({ query: STREAM, variables: { sessionId, content: 'Over SSE' } }),
    });
    const events = (await collectEvents(response)).filter((e) => e.event === 'next');
    const payloads = events.map((e) => JSON.parse(e.data).data.streamSessionMessage);
    expect(payloads.filter((p) => p.__typename === 'MessageDelta').map((p) => p.delta).join('')).toBe(REPLY);
    expect(payloads.at(-1).__typename).toBe('MessageCompleted');
  });
});

describe('load', () => {
  test('replies beyond the concurrency bound wait in the queue, and past the queue get 503 with Retry-After', async () => {
    const bounded = await createTestApp({
      env: { MAX_CONCURRENT_GENERATIONS: '1', GENERATION_QUEUE_SIZE: '1' },
      ollama: { reply: 'one two three four five', tokenDelayMs: 40 },
    });
    try {
      const assistant = await bounded.json('POST', '/api/v1/assistants', { body: { name: 'Busy' } });
      const sessions = await Promise.all(
        [0, 1, 2].map(async () => (await bounded.json('POST', '/api/v1/sessions', { body: { assistant_id: assistant.body.data.id } })).body.data.id),
      );
      const first = bounded.json('POST', `/api/v1/sessions/${sessions[0]}/messages`, { body: { content: 'a' } });
      await new Promise((resolve) => setTimeout(resolve, 30));
      const second = bounded.json('POST', `/api/v1/sessions/${sessions[1]}/messages`, { body: { content: 'b' } });
      await new Promise((resolve) => setTimeout(resolve, 30));
      const third = await bounded.json('POST', `/api/v1/sessions/${sessions[2]}/messages`, { body: { content: 'c' } });
      expect(third.status).toBe(503);
      expect(third.headers.get('retry-after')).toBeTruthy();
      expect(third.body.detail).toMatch(/retry/i);
      expect((await first).status).toBe(201);
      expect((await second).status).toBe(201);
      // The refused message was not stored: the client retries it whole.
      const history = await bounded.json('GET', `/api/v1/sessions/${sessions[2]}/messages`);
      expect(history.body.data.total).toBe(0);
      // Never more than one generation at a time reached the model.
      const chats = bounded.ollama.requests.filter((r) => r.path === '/api/chat');
      expect(chats).toHaveLength(2);
      expect(chats[1].receivedAt.perfNow).toBeGreaterThanOrEqual(chats[0].chunks.at(-1)!.perfNow);
    } finally {
      await bounded.close();
    }
  });

  test('a long history is trimmed to the model\'s context, newest first, never cutting the new message', async () => {
    const small = await createTestApp({ ollama: { contextLength: 1200 } });
    try {
      const assistant = await small.json('POST', '/api/v1/assistants', { body: { name: 'Tiny', max_tokens: 100 } });
      const session = (await small.json('POST', '/api/v1/sessions', { body: { assistant_id: assistant.body.data.id } })).body.data.id;
      for (let i = 0; i < 8; i++) {
        await small.json('POST', `/api/v1/sessions/${session}/messages`, { body: { content: `turn ${i} ${'x'.repeat(600)}` } });
      }
      const last = `final question ${'y'.repeat(2000)}`;
      await small.json('POST', `/api/v1/sessions/${session}/messages`, { body: { content: last } });
      const chat = small.ollama.requests.filter((r) => r.path === '/api/chat').at(-1)!;
      const messages = (chat.body as any).messages as Array<{ role: string; content: string }>;
      expect(messages.at(-1)).toEqual({ role: 'user', content: last });
      expect((chat.body as any).options.num_ctx).toBe(1200);
      // Some history was dropped; what is left is the newest turns.
      const kept = messages.slice(1, -1);
      expect(kept.length).toBeLessThan(16);
      if (kept.length > 0) expect(kept.at(-1)!.content).toContain('turn 7');
    } finally {
      await small.close();
    }
  });
});
