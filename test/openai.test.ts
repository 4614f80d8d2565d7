// The OpenAI-compatible API as its users meet it: the official openai SDK
// pointed at a listening gateway (base URL /v1, API key CLIENT_ID:CLIENT_SECRET),
// with the Ollama test double standing in for the model.
import OpenAI from 'openai';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SEED_ASSISTANT } from './fixtures/seed.ts';
import { createTestApp, type TestApp } from './utils/app.ts';

let t: TestApp;
let baseURL: string;
let client: OpenAI;
let assistantId: string;
let inactiveId: string;

const apiKey = (credentials = t.org) => `${credentials.clientId}:${credentials.clientSecret}`;

beforeAll(async () => {
  t = await createTestApp();
  baseURL = `${(await t.listen()).url}/v1`;
  // No retries: a test sees the first answer.
  client = new OpenAI({ baseURL, apiKey: apiKey(), maxRetries: 0 });
  assistantId = (await t.json('POST', '/api/v1/assistants/', { body: SEED_ASSISTANT })).body.data.id;
  inactiveId = (await t.json('POST', '/api/v1/assistants/', { body: { name: 'Draft', is_active: false } })).body.data.id;
});
afterAll(() => t.close());

/** The messages the model received for the newest chat request. */
function lastPrompt(): Array<{ role: string; content: string }> {
  const chats = t.ollama.requests.filter((r) => r.path === '/api/chat');
  return (chats.at(-1)!.body as { messages: Array<{ role: string; content: string }> }).messages;
}

/** The error a call fails with. */
async function failure(call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const error = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OpenAI.APIError);
  return error as InstanceType<typeof OpenAI.APIError>;
}

async function settled(id: string) {
  for (let i = 0; i < 300; i++) {
    const { body } = await t.json('GET', `/api/v1/knowledge/qa/${id}`);
    if (body.data.status === 'ready' || body.data.status === 'failed') return body.data;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`source ${id} never settled`);
}

describe('models', () => {
  test('the SDK lists the organization\'s active assistants as models, ids being assistant ids', async () => {
    const models = [];
    for await (const model of client.models.list()) models.push(model);
    expect(models).toEqual([expect.objectContaining({ id: assistantId, object: 'model', owned_by: 'organization', name: 'Customer Support Bot' })]);
    expect(models[0].created).toBeGreaterThan(1_700_000_000);
    expect(await client.models.retrieve(assistantId)).toMatchObject({ id: assistantId, object: 'model' });
  });

  test('another organization\'s key sees none of them', async () => {
    const other = new OpenAI({ baseURL, apiKey: apiKey(t.otherOrg), maxRetries: 0 });
    const page = await other.models.list();
    expect(page.data).toEqual([]);
    const error = await failure(other.models.retrieve(assistantId));
    expect(error.status).toBe(404);
    expect(error.code).toBe('model_not_found');
  });
});

describe('chat completions', () => {
  test('a plain completion answers as the assistant, with usage, sources and the stored conversation', async () => {
    const completion = await client.chat.completions.create({
      model: assistantId,
      messages: [{ role: 'user', content: 'Hello, I need help with my order' }],
    });
    expect(completion).toMatchObject({ object: 'chat.completion', model: assistantId });
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0]).toMatchObject({
      index: 0,
      finish_reason: 'stop',
      message: { role: 'assistant', content: 'You said: Hello, I need help with my order', sources: [] },
    });
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
    // The persona is the system prompt.
    expect(lastPrompt()[0].content).toContain('Customer Support Bot');

    // The exchange is a conversation the organization can read, marked with where it came from.
    const conversationId = (completion as unknown as { conversation_id: string }).conversation_id;
    expect(completion.id).toBe(`chatcmpl-${conversationId}`);
    const conversation = await t.json('GET', `/api/v1/conversations/${conversationId}`);
    expect(conversation.body.data).toMatchObject({ assistant_id: assistantId, metadata: { channel: 'openai' }, title: 'Hello, I need help with my order' });
    const messages = await t.json('GET', `/api/v1/conversations/${conversationId}/messages`);
    expect(messages.body.data.items.map((m: { role: string; content: string }) => [m.role, m.content])).toEqual([
      ['user', 'Hello, I need help with my order'],
      ['assistant', 'You said: Hello, I need help with my order'],
    ]);
  });

  test('the history sent with the request reaches the model in order, with the client\'s system message after the persona', async () => {
    await client.chat.completions.create({
      model: assistantId,
      messages: [
        { role: 'developer', content: 'Answer in one sentence.' },
        { role: 'user', content: 'My order is #12345.' },
        { role: 'assistant', content: [{ type: 'text', text: 'Thanks, I see order #12345.' }] },
        { role: 'user', content: [{ type: 'text', text: 'When ' }, { type: 'text', text: 'will it arrive?' }] },
      ],
    });
    const prompt = lastPrompt();
    expect(prompt[0].content).toContain('Customer Support Bot');
    expect(prompt.slice(1)).toEqual([
      { role: 'system', content: 'Answer in one sentence.' },
      { role: 'user', content: 'My order is #12345.' },
      { role: 'assistant', content: 'Thanks, I see order #12345.' },
      { role: 'user', content: 'When will it arrive?' },
    ]);
  });

  test('a streamed completion arrives as chunks ending with sources, usage and [DONE]', async () => {
    const stream = await client.chat.completions.create({
      model: assistantId,
      messages: [{ role: 'user', content: 'Stream this reply please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const received: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) received.push(chunk);
    expect(received.every((chunk) => chunk.object === 'chat.completion.chunk' && chunk.model === assistantId)).toBe(true);
    expect(new Set(received.map((chunk) => chunk.id)).size).toBe(1);
    expect(received[0].choices[0].delta.role).toBe('assistant');
    const text = received.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('You said: Stream this reply please');
    // More than one piece: the reply was relayed as it was generated.
    expect(received.filter((chunk) => chunk.choices[0]?.delta.content).length).toBeGreaterThan(2);
    const finish = received.at(-2)!;
    expect(finish.choices[0]).toMatchObject({ finish_reason: 'stop', delta: { sources: [] } });
    const usage = received.at(-1)!;
    expect(usage.choices).toEqual([]);
    expect(usage.usage!.completion_tokens).toBeGreaterThan(0);
  });

  test('the raw stream is OpenAI\'s server-sent events, ending with data: [DONE]', async () => {
    const response = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${apiKey()}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: assistantId, messages: [{ role: 'user', content: 'Hi' }], stream: true }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await response.text()).trim().split('\n\n');
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(events.slice(0, -1).every((event) => event.startsWith('data: {'))).toBe(true);
    // Without include_usage, no chunk carries usage.
    expect(events.some((event) => event.includes('"usage"'))).toBe(false);
  });
});

describe('a client that leaves', () => {
  test('aborting a stream stops the generation and keeps the partial reply as incomplete', async () => {
    t.ollama.setBehavior({ reply: Array.from({ length: 200 }, (_, i) => `word${i}`).join(' '), tokenDelayMs: 20 });
    try {
      const abort = new AbortController();
      const stream = await client.chat.completions.create(
        { model: assistantId, messages: [{ role: 'user', content: 'Tell me everything' }], stream: true },
        { signal: abort.signal },
      );
      let conversationId = '';
      let pieces = 0;
      try {
        for await (const chunk of stream) {
          conversationId = (chunk as unknown as { conversation_id: string }).conversation_id;
          if (chunk.choices[0]?.delta.content && ++pieces === 3) abort.abort();
        }
      } catch (error) {
        expect(error).toBeInstanceOf(OpenAI.APIUserAbortError);
      }
      let reply: { status: string; content: string } | undefined;
      // The reply is stored as "streaming" from its start; wait for the generation to have ended.
      for (let i = 0; i < 100 && (!reply || reply.status === 'streaming'); i++) {
        const { body } = await t.json('GET', `/api/v1/conversations/${conversationId}/messages`);
        reply = body.data.items.find((m: { role: string }) => m.role === 'assistant');
        if (!reply || reply.status === 'streaming') await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(reply!.status).toBe('incomplete');
      expect(reply!.content.split(' ').length).toBeLessThan(200);
      // The model was told to stop, not left generating.
      const chat = t.ollama.requests.filter((r) => r.path === '/api/chat').at(-1)!;
      await chat.settled;
      expect(chat.aborted).toBe(true);
    } finally {
      t.ollama.setBehavior({ reply: ({ messages }) => `You said: ${messages.findLast((m) => m.role === 'user')?.content ?? ''}`, tokenDelayMs: 0 });
    }
  });
  test('a client that stops reading a stream gives up its reply: the generation stops and the partial reply is kept', async () => {
    // More than the sockets' buffers hold (a few MB here), so that the server finds the client not reading.
    t.ollama.setBehavior({ reply: Array.from({ length: 10_000 }, (_, i) => `w${i}:${'x'.repeat(1000)}`).join(' ') });
    const socket = net.connect(Number(new URL(baseURL).port), '127.0.0.1');
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      const before = t.ollama.requests.length;
      const body = JSON.stringify({ model: assistantId, messages: [{ role: 'user', content: 'Never mind reading' }], stream: true });
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${apiKey()}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      // The first bytes arrive, then the client reads nothing more.
      await new Promise((resolve) => socket.once('data', resolve));
      socket.pause();
      const chat = t.ollama.requests.slice(before).find((r) => r.path === '/api/chat')!;
      await chat.settled;
      expect(chat.aborted).toBe(true);
      let reply: { status: string; content: string } | undefined;
      for (let i = 0; i < 100 && reply?.status !== 'incomplete'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const conversations = (await t.json('GET', '/api/v1/conversations?limit=1')).body.data.items;
        const messages = (await t.json('GET', `/api/v1/conversations/${conversations[0].id}/messages`)).body.data.items;
        reply = messages.find((m: { role: string }) => m.role === 'assistant');
      }
      expect(reply).toMatchObject({ status: 'incomplete' });
      expect(reply!.content).toMatch(/^w0:x+ w1:x+ /);
    } finally {
      socket.destroy();
      t.ollama.setBehavior({ reply: ({ messages }) => `You said: ${messages.findLast((m) => m.role === 'user')?.content ?? ''}`, tokenDelayMs: 0 });
    }
  });
});

describe('grounded replies', () => {
  let qaId: string;
  beforeAll(async () => {
    const added = await t.json('POST', '/api/v1/knowledge/qa/', {
      body: { question: 'What are your business hours?', answer: 'We are open Monday to Friday, 9 AM to 6 PM EST.', tags: ['hours'] },
    });
    qaId = added.body.data.id;
    expect((await settled(qaId)).status).toBe('ready');
    // A model that answers from the reference it was given, as a grounded model does.
    t.ollama.setBehavior({
      reply: ({ messages }) => /<reference number="1"[^>]*>\n([\s\S]*?)\n<\/reference>/.exec(messages[0].content)?.[1] ?? 'I do not know.',
    });
  });
  afterAll(() => t.ollama.setBehavior({ reply: ({ messages }) => `You said: ${messages.findLast((m) => m.role === 'user')?.content ?? ''}` }));

  test('a question answered by a stored Q&A pair gets its answer and cites it, plain and streamed', async () => {
    const request = { model: assistantId, messages: [{ role: 'user' as const, content: 'What are your business hours?' }] };
    const completion = await client.chat.completions.create(request);
    expect(completion.choices[0].message.content).toContain('Monday to Friday, 9 AM to 6 PM EST');
    const sources = (completion.choices[0].message as unknown as { sources: unknown[] }).sources;
    expect(sources).toEqual([
      expect.objectContaining({ source_id: qaId, kind: 'qa', title: 'What are your business hours?', url: null, snippet: expect.stringContaining('Monday to Friday') }),
    ]);

    // The SDK's stream helper merges the deltas, our sources included, into the final message.
    const stream = client.chat.completions.stream(request);
    const final = await stream.finalChatCompletion();
    expect(final.choices[0].message.content).toContain('Monday to Friday, 9 AM to 6 PM EST');
    expect((final.choices[0].message as unknown as { sources: unknown[] }).sources).toEqual(sources);
  });
});

describe('personalisation', () => {
  test('user names a user reference whose stored traits reach the model; an unknown one is simply nobody in particular', async () => {
    await t.json('POST', '/api/v1/contexts/', { body: { user_reference: 'user-456', traits: { name: 'John Doe', subscription_tier: 'premium' } } });
    const completion = await client.chat.completions.create({ model: assistantId, user: 'user-456', messages: [{ role: 'user', content: 'Which plan am I on?' }] });
    expect(lastPrompt()[0].content).toContain('premium');
    expect(lastPrompt()[0].content).toContain('John Doe');
    const conversationId = (completion as unknown as { conversation_id: string }).conversation_id;
    expect((await t.json('GET', `/api/v1/conversations/${conversationId}`)).body.data.customer_id).toBe('user-456');

    await client.chat.completions.create({ model: assistantId, user: 'someone-new', messages: [{ role: 'user', content: 'Hello' }] });
    expect(lastPrompt()[0].content).not.toContain('premium');
  });
});

describe('errors in OpenAI\'s shape', () => {
  test('a wrong key is a 401 the SDK raises as AuthenticationError', async () => {
    for (const key of [`${t.org.clientId}:cs_wrong`, 'not-a-key']) {
      const wrong = new OpenAI({ baseURL, apiKey: key, maxRetries: 0 });
      const error = await failure(wrong.models.list());
      expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(error.status).toBe(401);
      expect(error.error).toEqual({ message: expect.any(String), type: 'invalid_request_error', param: null, code: 'invalid_api_key' });
    }
    const response = await fetch(`${baseURL}/models`);
    expect(response.status).toBe(401);
    expect((await response.json()).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key', message: expect.stringContaining('CLIENT_ID:CLIENT_SECRET') });
  });

  test('a widget token is refused: this API takes API keys only', async () => {
    const minted = await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: t.org.clientId }, auth: null });
    const visitor = new OpenAI({ baseURL, apiKey: minted.body.token, maxRetries: 0 });
    const error = await failure(visitor.chat.completions.create({ model: assistantId, messages: [{ role: 'user', content: 'Hi' }] }));
    expect(error.status).toBe(401);
    expect(error.message).toMatch(/Widget tokens are not accepted/);
  });

  test('an unknown, foreign or inactive model is a 404 model_not_found', async () => {
    for (const model of ['gpt-4o', inactiveId, '00000000-0000-4000-8000-000000000000']) {
      const error = await failure(client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }] }));
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect(error.error).toMatchObject({ type: 'invalid_request_error', code: 'model_not_found', param: 'model' });
      expect(error.message).toContain('GET /v1/models');
    }
    const garbled = await fetch(`${baseURL}/models/%E0%A4%A`, { headers: { Authorization: `Bearer ${apiKey()}` } });
    expect(garbled.status).toBe(404);
    expect((await garbled.json()).error.code).toBe('model_not_found');
  });

  test('bad input is a 400 or a 422 naming the field', async () => {
    const post = (body: string) =>
      fetch(`${baseURL}/chat/completions`, { method: 'POST', headers: { Authorization: `Bearer ${apiKey()}`, 'Content-Type': 'application/json' }, body });
    const malformed = await post('{"model": ');
    expect(malformed.status).toBe(400);
    expect((await malformed.json()).error.type).toBe('invalid_request_error');

    const cases: Array<[unknown, string]> = [
      [{ model: assistantId }, 'messages'],
      [{ model: assistantId, messages: [] }, 'messages'],
      [{ model: assistantId, messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }] }, 'messages.1.role'],
      [{ model: assistantId, messages: [{ role: 'tool', content: '42', tool_call_id: 'x' }] }, 'messages.0.role'],
      [{ model: assistantId, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x.test/a.png' } }] }] }, 'messages.0.content.0'],
      [{ model: assistantId, messages: [{ role: 'user', content: '   ' }] }, 'messages.0.content'],
      [{ model: assistantId, messages: [{ role: 'user', content: 'Hi' }], stream: 'yes' }, 'stream'],
      [{ model: assistantId, messages: [{ role: 'user', content: 'Hi' }], n: 2 }, 'n'],
      [{ messages: [{ role: 'user', content: 'Hi' }] }, 'model'],
    ];
    for (const [body, param] of cases) {
      const response = await post(JSON.stringify(body));
      const reply = await response.json();
      expect(response.status, JSON.stringify(body)).toBe(422);
      expect(reply.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_value', param });
    }
  });

  test('a model that is down is a 503 before any chunk, plain or streamed, and the question is kept', async () => {
    t.ollama.setBehavior({ models: ['nomic-embed-text'] });
    try {
      const plain = await failure(client.chat.completions.create({ model: assistantId, messages: [{ role: 'user', content: 'Anyone there?' }] }));
      expect(plain.status).toBe(503);
      expect(plain.error).toMatchObject({ type: 'server_error', code: 'model_unavailable' });
      expect(plain.message).toMatch(/llama3\.2/);
      const streamed = await failure(client.chat.completions.create({ model: assistantId, messages: [{ role: 'user', content: 'Anyone there?' }], stream: true }));
      expect(streamed.status).toBe(503);
    } finally {
      t.ollama.setBehavior({ models: ['llama3.2', 'nomic-embed-text'] });
    }
  });

  test('a model that fails mid-reply ends the stream with an error the SDK raises', async () => {
    t.ollama.setBehavior({ reply: 'one two three four five six', failAfterTokens: 3 });
    try {
      const stream = await client.chat.completions.create({ model: assistantId, messages: [{ role: 'user', content: 'Tell me a story' }], stream: true });
      let text = '';
      const error = await (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      })().then(() => null, (e: unknown) => e);
      expect(text).toBe('one two three');
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect((error as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({ type: 'server_error', code: 'model_unavailable' });
    } finally {
      t.ollama.setBehavior({ reply: ({ messages }) => `You said: ${messages.findLast((m) => m.role === 'user')?.content ?? ''}`, failAfterTokens: null });
    }
  });

  test('over the organization\'s budget, shared with the REST API, is a 429 with Retry-After', async () => {
    const small = await t.createOrg('Small', 2);
    const limited = new OpenAI({ baseURL, apiKey: apiKey(small), maxRetries: 0 });
    expect((await t.json('GET', '/api/v1/assistants/', { auth: small })).status).toBe(200);
    await limited.models.list();
    const error = await failure(limited.models.list());
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.error).toMatchObject({ code: 'rate_limit_exceeded' });
    expect(Number(error.headers?.get('retry-after'))).toBeGreaterThan(0);
    expect(error.headers?.get('x-ratelimit-remaining')).toBe('0');
  });

  test('an unknown path or method is answered in the same shape, without credentials being needed', async () => {
    const unknown = await fetch(`${baseURL}/embeddings`, { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error).toMatchObject({ type: 'invalid_request_error', message: expect.stringContaining('/v1/chat/completions') });
    const wrongMethod = await fetch(`${baseURL}/chat/completions`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
  });
});
