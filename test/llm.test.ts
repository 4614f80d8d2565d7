import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createLlm, LlmError } from '../src/llm/ollama.ts';
import type { ChatStream } from '../src/llm/ollama.ts';
import { startOllamaDouble } from './utils/ollama-double.ts';
import type { OllamaDouble } from './utils/ollama-double.ts';

let ollama: OllamaDouble;

beforeEach(async () => {
  ollama = await startOllamaDouble();
});

afterEach(async () => {
  await ollama.close();
});

/** Reads the whole stream, keeping what arrived before a failure. */
async function read(stream: ChatStream): Promise<{ deltas: string[]; error: unknown }> {
  const deltas: string[] = [];
  try {
    for await (const { delta } of stream) deltas.push(delta);
    return { deltas, error: undefined };
  } catch (error) {
    return { deltas, error };
  }
}

const question = [
  { role: 'system' as const, content: 'You are the assistant of a bakery.' },
  { role: 'user' as const, content: 'When do you open on Sundays?' },
];

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('chatting with the model', () => {
  test('the reply arrives word by word, complete and in order', async () => {
    const llm = createLlm({ host: ollama.url });
    const { deltas, error } = await read(llm.chatStream({ model: 'llama3.2', messages: question }));

    expect(error).toBeUndefined();
    expect(deltas.join('')).toBe('You said: When do you open on Sundays?');
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas).toEqual(ollama.requests[0].chunks.map((chunk) => chunk.content));
  });

  test("the token counts of a finished reply are Ollama's own", async () => {
    const llm = createLlm({ host: ollama.url });
    const stream = llm.chatStream({ model: 'llama3.2', messages: question });
    const { deltas } = await read(stream);

    const promptChars = question.reduce((sum, message) => sum + message.content.length, 0);
    await expect(stream.outcome).resolves.toEqual({
      promptTokens: Math.ceil(promptChars / 4),
      completionTokens: deltas.length,
      doneReason: 'stop',
    });
  });

  test('temperature and the token limit reach Ollama, and a reply cut by the limit says so', async () => {
    const llm = createLlm({ host: ollama.url });
    const stream = llm.chatStream({ model: 'llama3.2', messages: question, temperature: 0.2, maxTokens: 3 });
    const { deltas } = await read(stream);

    expect(ollama.requests[0].body).toMatchObject({ stream: true, options: { temperature: 0.2, num_predict: 3 } });
    expect(deltas).toHaveLength(3);
    await expect(stream.outcome).resolves.toMatchObject({ completionTokens: 3, doneReason: 'length' });
  });

  test('cancelling a reply closes the connection, so Ollama stops generating', async () => {
    ollama.setBehavior({ tokenDelayMs: 20, reply: 'one two three four five six seven eight nine ten eleven twelve' });
    const llm = createLlm({ host: ollama.url });
    const controller = new AbortController();
    const stream = llm.chatStream({ model: 'llama3.2', messages: question, signal: controller.signal });

    const deltas: string[] = [];
    for await (const { delta } of stream) {
      deltas.push(delta);
      if (deltas.length === 2) controller.abort();
    }

    await expect(stream.outcome).resolves.toEqual({ promptTokens: null, completionTokens: 2, doneReason: 'aborted' });
    const [request] = ollama.requests;
    await request.settled;
    expect(request.aborted).toBe(true);
    expect(request.chunks.length).toBeLessThan(12);
  });

  test('cancelling before Ollama answers at all (a model still loading) closes the request too', async () => {
    // A server that takes the request and never answers it, as Ollama does while it loads a model.
    let closed!: () => void;
    const requestClosed = new Promise<void>((resolve) => (closed = resolve));
    const loading = createHttpServer((req, res) => {
      req.resume();
      res.on('close', closed);
    });
    await new Promise<void>((resolve) => loading.listen(0, '127.0.0.1', resolve));
    try {
      const host = `http://127.0.0.1:${(loading.address() as AddressInfo).port}`;
      const controller = new AbortController();
      const stream = createLlm({ host }).chatStream({ model: 'llama3.2', messages: question, signal: controller.signal });
      setTimeout(() => controller.abort(), 100);

      const { deltas, error } = await read(stream);
      expect(error).toBeUndefined();
      expect(deltas).toEqual([]);
      await expect(stream.outcome).resolves.toEqual({ promptTokens: null, completionTokens: 0, doneReason: 'aborted' });
      const closedInTime = await Promise.race([requestClosed.then(() => true), sleep(2_000).then(() => false)]);
      expect(closedInTime, 'the request to Ollama is still open').toBe(true);
    } finally {
      loading.closeAllConnections();
      await new Promise((resolve) => loading.close(resolve));
    }
  });

  test('leaving the loop early also closes the connection', async () => {
    ollama.setBehavior({ tokenDelayMs: 20, reply: 'one two three four five six seven eight nine ten' });
    const llm = createLlm({ host: ollama.url });
    const stream = llm.chatStream({ model: 'llama3.2', messages: question });

    for await (const _ of stream) break;

    await expect(stream.outcome).resolves.toMatchObject({ doneReason: 'aborted', completionTokens: 1 });
    await ollama.requests[0].settled;
    expect(ollama.requests[0].aborted).toBe(true);
  });
});

describe('when Ollama is not there or not ready', () => {
  test('nothing listening at the host: the error names the host and says to run `ollama serve`', async () => {
    const host = `http://127.0.0.1:${await closedPort()}`;
    const stream = createLlm({ host }).chatStream({ model: 'llama3.2', messages: question });
    const { error } = await read(stream);

    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ kind: 'unreachable', host, model: 'llama3.2' });
    expect((error as LlmError).message).toContain(host);
    expect((error as LlmError).message).toContain('ollama serve');
    await expect(stream.outcome).rejects.toBe(error);
  });

  test('a model that was never pulled: the error says `ollama pull <model>`', async () => {
    const llm = createLlm({ host: ollama.url });
    const { error } = await read(llm.chatStream({ model: 'mistral', messages: question }));

    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ kind: 'model_missing', model: 'mistral' });
    expect((error as LlmError).message).toContain('ollama pull mistral');
    await expect(llm.embed('mistral', ['hello'])).rejects.toMatchObject({ kind: 'model_missing' });
    await expect(llm.modelInfo('mistral')).rejects.toMatchObject({ kind: 'model_missing' });
  });

  test('Ollama dying mid-reply: the words already sent arrive, then an error says it stopped mid-reply', async () => {
    ollama.setBehavior({ failAfterTokens: 2, reply: 'one two three four five' });
    const llm = createLlm({ host: ollama.url });
    const stream = llm.chatStream({ model: 'llama3.2', messages: question });
    const { deltas, error } = await read(stream);

    expect(deltas).toEqual(['one', ' two']);
    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ kind: 'interrupted' });
    expect((error as LlmError).message).toContain('stopped mid-reply');
    expect(ollama.requests[0].aborted).toBe(false);
    await expect(stream.outcome).rejects.toBe(error);
  });
});

describe('model facts and embeddings', () => {
  test("the model's context window comes from Ollama and is asked for only once", async () => {
    ollama.setBehavior({ contextLength: 131072 });
    const llm = createLlm({ host: ollama.url });

    expect(await llm.modelInfo('llama3.2')).toEqual({ contextLength: 131072 });
    expect(await llm.modelInfo('llama3.2')).toEqual({ contextLength: 131072 });
    expect(ollama.requests.filter((request) => request.path === '/api/show')).toHaveLength(1);
  });

  test('texts about the same thing get closer embeddings than unrelated ones', async () => {
    const llm = createLlm({ host: ollama.url });
    const [refund, refunds, weather] = await llm.embed('llama3.2', [
      'How do I get a refund for my order?',
      'Refunds for orders: how do I get one?',
      'Sunny weather expected tomorrow afternoon',
    ]);
    const cosine = (a: number[], b: number[]) => a.reduce((sum, value, i) => sum + value * b[i], 0);

    expect(refund).toHaveLength(64);
    expect(cosine(refund, refunds)).toBeGreaterThan(cosine(refund, weather));
    expect(ollama.requests[0].body).toEqual({ model: 'llama3.2', input: expect.any(Array) });
  });
});
