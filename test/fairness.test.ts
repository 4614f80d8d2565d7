// Reply slots shared fairly between organizations: one tenant's flood of
// messages is refused beyond its share while another tenant is still answered,
// on one instance and on two behind a load balancer.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, test } from 'vitest';
import { buildApp, type App } from '../src/app.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db/database.ts';
import { createLlm } from '../src/llm/ollama.ts';
import { authHeaders, createTestApp, type Credentials, type TestApp } from './utils/app.ts';
import { startOllamaDouble, type OllamaDouble, type RecordedRequest } from './utils/ollama-double.ts';
import { REDIS_URL, throwawaySchema } from './utils/postgres.ts';

type Sent = { status: number; retryAfter: string | null; body: any };

/** Posts a message to a session over HTTP, as a client would. */
async function send(fetcher: (request: Request) => Promise<Response>, base: string, auth: Credentials, sessionId: string, content: string): Promise<Sent> {
  const response = await fetcher(
    new Request(`${base}/api/v1/sessions/${sessionId}/messages`, {
      method: 'POST',
      headers: { ...authHeaders(auth), 'Content-Type': 'application/json' },
      body: JSON.stringify({ content }),
    }),
  );
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json() };
}

async function sessionOf(fetcher: (request: Request) => Promise<Response>, base: string, auth: Credentials): Promise<string> {
  const post = async (path: string, body: unknown) =>
    (
      await (
        await fetcher(new Request(`${base}${path}`, { method: 'POST', headers: { ...authHeaders(auth), 'Content-Type': 'application/json' }, body: JSON.stringify(body) }))
      ).json()
    ).data;
  const assistant = await post('/api/v1/assistants', { name: 'Busy desk' });
  return (await post('/api/v1/sessions', { assistant_id: assistant.id })).id;
}

const chatsFor = (requests: RecordedRequest[], prefix: string) =>
  requests.filter((r) => r.path === '/api/chat' && ((r.body as any).messages.at(-1).content as string).startsWith(prefix));

describe('on one instance', () => {
  let t: TestApp;
  afterAll(async () => t?.close());

  test('one organization flooding the replies gets 503 for its own excess, and another organization is answered meanwhile', async () => {
    // 4 slots and 16 queue places: by default an organization holds 2 slots and 4 places.
    t = await createTestApp({
      env: { MAX_CONCURRENT_GENERATIONS: '4', GENERATION_QUEUE_SIZE: '16' },
      ollama: { reply: 'one two three four five six seven eight', tokenDelayMs: 60 },
    });
    const fetcher = (request: Request) => t.app.fetch(request);
    const base = 'http://gateway.test';
    const [floodSession, otherSession] = await Promise.all([sessionOf(fetcher, base, t.org), sessionOf(fetcher, base, t.otherOrg)]);

    const flood = Array.from({ length: 40 }, (_, i) => send(fetcher, base, t.org, floodSession, `flood ${i}`));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const otherStarted = performance.now();
    const others = await Promise.all([0, 1].map((i) => send(fetcher, base, t.otherOrg, otherSession, `other ${i}`)));
    const otherMs = performance.now() - otherStarted;
    const flooded = await Promise.all(flood);

    expect(others.map((sent) => sent.status)).toEqual([201, 201]);
    expect(others.map((sent) => sent.body.data.assistant_message.status)).toEqual(['complete', 'complete']);
    // Answered at once, in about one reply's time (8 tokens 40 ms apart), not after the flood's queue.
    expect(otherMs).toBeLessThan(2_000);

    const statuses = flooded.map((sent) => sent.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(2 + 4);
    const refused = flooded.filter((sent) => sent.status === 503);
    expect(refused).toHaveLength(40 - 6);
    for (const sent of refused) {
      expect(sent.retryAfter).toBe('5');
      expect(sent.body).toMatchObject({ status: 'error', status_code: 503, data: null });
      expect(sent.body.detail).toMatch(/your organization is at its share/i);
    }
    // Never more than the organization's share of generations at once reached the model.
    const chats = chatsFor(t.ollama.requests, 'flood');
    expect(chats).toHaveLength(6);
    const overlapping = chats.map((chat) => chats.filter((other) => other.receivedAt.perfNow <= chat.receivedAt.perfNow && other.chunks.at(-1)!.perfNow > chat.receivedAt.perfNow).length);
    expect(Math.max(...overlapping)).toBeLessThanOrEqual(2);
    expect(t.app.services.generation).toMatchObject({ active: 0, waiting: 0 });
  }, 120_000);

  test('a freed slot goes to the organization waiting with the fewest replies in progress, in turns', async () => {
    const one = await createTestApp({
      env: { MAX_CONCURRENT_GENERATIONS: '1', GENERATION_QUEUE_SIZE: '8', GENERATION_QUEUE_PER_ORGANIZATION: '8' },
      ollama: { reply: 'a b c', tokenDelayMs: 100 },
    });
    try {
      const fetcher = (request: Request) => one.app.fetch(request);
      const base = 'http://gateway.test';
      const [a, b] = await Promise.all([sessionOf(fetcher, base, one.org), sessionOf(fetcher, base, one.otherOrg)]);
      const sends: Promise<Sent>[] = [];
      // A sends three; B sends two after them. Arrival order alone would serve A, A, A, B, B.
      for (const [org, session, name] of [
        [one.org, a, 'A1'],
        [one.org, a, 'A2'],
        [one.org, a, 'A3'],
        [one.otherOrg, b, 'B1'],
        [one.otherOrg, b, 'B2'],
      ] as const) {
        sends.push(send(fetcher, base, org, session, name));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect((await Promise.all(sends)).map((sent) => sent.status)).toEqual([201, 201, 201, 201, 201]);
      const order = one.ollama.requests
        .filter((r) => r.path === '/api/chat')
        .sort((x, y) => x.receivedAt.perfNow - y.receivedAt.perfNow)
        .map((r) => (r.body as any).messages.at(-1).content);
      expect(order).toEqual(['A1', 'B1', 'A2', 'B2', 'A3']);
    } finally {
      await one.close();
    }
  }, 120_000);

  test('a client that leaves while its message waits gives its queue place back to its organization', async () => {
    const one = await createTestApp({
      env: { MAX_CONCURRENT_GENERATIONS: '1', GENERATION_QUEUE_SIZE: '4', GENERATION_QUEUE_PER_ORGANIZATION: '1' },
      ollama: { reply: 'a b c d', tokenDelayMs: 150 },
    });
    try {
      const fetcher = (request: Request) => one.app.fetch(request);
      const base = 'http://gateway.test';
      const session = await sessionOf(fetcher, base, one.org);
      const first = send(fetcher, base, one.org, session, 'first');
      await new Promise((resolve) => setTimeout(resolve, 100));
      // The organization's one queue place, taken by a client that then leaves.
      const leaving = new AbortController();
      const left = fetcher(
        new Request(`${base}/api/v1/sessions/${session}/messages`, {
          method: 'POST',
          signal: leaving.signal,
          headers: { ...authHeaders(one.org), 'Content-Type': 'application/json' },
          body: JSON.stringify({ content: 'leaving' }),
        }),
      ).catch(() => null);
      for (let i = 0; i < 100 && one.app.services.generation.usage(one.org.organizationId).waiting === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(one.app.services.generation.usage(one.org.organizationId)).toEqual({ active: 1, waiting: 1 });
      expect((await send(fetcher, base, one.org, session, 'refused')).status).toBe(503);
      leaving.abort();
      await left;
      expect(one.app.services.generation.usage(one.org.organizationId)).toEqual({ active: 1, waiting: 0 });
      const third = await send(fetcher, base, one.org, session, 'third');
      expect(third.status).toBe(201);
      expect((await first).status).toBe(201);
      expect(chatsFor(one.ollama.requests, 'leaving')).toHaveLength(0);
      expect(one.app.services.generation).toMatchObject({ active: 0, waiting: 0 });
    } finally {
      await one.close();
    }
  }, 120_000);

  test('a share larger than the whole stops start-up naming the variable', () => {
    expect(() => loadConfig({ MAX_CONCURRENT_GENERATIONS: '4', MAX_GENERATIONS_PER_ORGANIZATION: '5' })).toThrow(ConfigError);
    expect(() => loadConfig({ MAX_CONCURRENT_GENERATIONS: '4', MAX_GENERATIONS_PER_ORGANIZATION: '5' })).toThrow(/MAX_GENERATIONS_PER_ORGANIZATION/);
    expect(() => loadConfig({ GENERATION_QUEUE_SIZE: '8', GENERATION_QUEUE_PER_ORGANIZATION: '9' })).toThrow(/GENERATION_QUEUE_PER_ORGANIZATION/);
    expect(loadConfig({ MAX_CONCURRENT_GENERATIONS: '5', GENERATION_QUEUE_SIZE: '10' })).toMatchObject({
      maxGenerationsPerOrganization: 3,
      generationQueuePerOrganization: 3,
    });
  });
});

describe('on two instances sharing PostgreSQL and Redis', () => {
  type Instance = { app: App; db: Database; redis: Redis; server: Server; url: string };
  let ollama: OllamaDouble;
  let schema: Awaited<ReturnType<typeof throwawaySchema>>;
  const instances: Instance[] = [];

  afterAll(async () => {
    for (const { app, db, redis, server } of instances) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await app.close();
      await db.close();
      redis.disconnect();
    }
    await ollama?.close();
    await schema?.drop();
  });

  async function startInstance(): Promise<Instance> {
    const config = loadConfig({ OLLAMA_HOST: ollama.url, DATABASE_URL: schema.url, REDIS_URL, MAX_CONCURRENT_GENERATIONS: '4', GENERATION_QUEUE_SIZE: '16' });
    const db = await openDatabase({ databaseUrl: schema.url });
    const redis = new Redis(REDIS_URL);
    const app = buildApp({ config, db, redis, llm: createLlm({ host: ollama.url }) });
    const server = createServer(app.nodeHandler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { app, db, redis, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  }

  test('a tenant flooding both instances is refused beyond its share on each, and another tenant is answered on both', async () => {
    ollama = await startOllamaDouble({ models: ['llama3.2', 'nomic-embed-text'], reply: 'one two three four five six seven eight', tokenDelayMs: 100 });
    schema = await throwawaySchema('gateway_fair');
    instances.push(await startInstance(), await startInstance());
    const [a, b] = instances;
    const create = async (name: string) => {
      const created = await a.app.services.organizations.create({ name, rateLimitPerHour: 10_000 });
      return { organizationId: created.organizationId, clientId: created.clientId, clientSecret: created.clientSecret };
    };
    const flooder = await create('Flooder');
    const other = await create('Other');
    const [floodSession, otherSession] = await Promise.all([sessionOf(fetch, a.url, flooder), sessionOf(fetch, a.url, other)]);

    const flood = Array.from({ length: 60 }, (_, i) => send(fetch, instances[i % 2].url, flooder, floodSession, `flood ${i}`));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const others = await Promise.all([a, b, a, b].map((instance, i) => send(fetch, instance.url, other, otherSession, `other ${i}`)));
    const flooded = await Promise.all(flood);

    expect(others.map((sent) => sent.status)).toEqual([201, 201, 201, 201]);
    // Each instance gives the flooder its share, 2 slots and 4 queue places: 12 of the first 60 at most,
    // and a few more where a reply finished before the last of the flood arrived.
    const refused = flooded.filter((sent) => sent.status === 503);
    expect(refused.length).toBeGreaterThanOrEqual(40);
    expect(refused.every((sent) => sent.retryAfter === '5' && /at its share/.test(sent.body.detail))).toBe(true);
    expect(flooded.every((sent) => sent.status === 201 || sent.status === 503)).toBe(true);
    // Never more than 2 of the flooder's replies at once per instance.
    const chats = chatsFor(ollama.requests, 'flood');
    const overlapping = chats.map((chat) => chats.filter((other) => other.receivedAt.perfNow <= chat.receivedAt.perfNow && other.chunks.at(-1)!.perfNow > chat.receivedAt.perfNow).length);
    expect(Math.max(...overlapping)).toBeLessThanOrEqual(4);
  }, 120_000);
});
