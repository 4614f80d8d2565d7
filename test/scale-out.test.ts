// Two gateway instances on one PostgreSQL database and one Redis, as a
// deployment behind a load balancer runs them.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from 'graphql-ws';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { buildApp, type App } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db/database.ts';
import { createLlm } from '../src/llm/ollama.ts';
import { startOllamaDouble, type OllamaDouble } from './utils/ollama-double.ts';
import { REDIS_URL, throwawaySchema } from './utils/postgres.ts';
import { collectEvents, readEvents, type SseEvent } from './utils/sse.ts';

type Instance = { app: App; db: Database; redis: Redis; server: Server; url: string; wsUrl: string };

let ollama: OllamaDouble;
let schema: Awaited<ReturnType<typeof throwawaySchema>>;
const instances: Instance[] = [];

async function startInstance(): Promise<Instance> {
  const config = loadConfig({ OLLAMA_HOST: ollama.url, DATABASE_URL: schema.url, REDIS_URL });
  const db = await openDatabase({ databaseUrl: schema.url });
  const redis = new Redis(REDIS_URL);
  const app = buildApp({ config, db, redis, llm: createLlm({ host: ollama.url }) });
  const server = createServer(app.nodeHandler);
  const sockets = app.attachWebSockets(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const instance = { app, db, redis, server, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/graphql` };
  server.on('close', () => void sockets.close());
  return instance;
}

beforeAll(async () => {
  ollama = await startOllamaDouble({ models: ['llama3.2', 'nomic-embed-text'], reply: 'Shared across instances, token by token', tokenDelayMs: 5 });
  schema = await throwawaySchema('gateway_scale');
  instances.push(await startInstance(), await startInstance());
}, 60_000);

afterAll(async () => {
  for (const { app, db, redis, server } of instances) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await app.close();
    await db.close();
    redis.disconnect();
  }
  await ollama.close();
  await schema.drop();
});

test('instances share the rate limit of an organization through Redis', async () => {
  const [a, b] = instances;
  const org = await a.app.services.organizations.create({ name: `Shared ${Date.now()}`, rateLimitPerHour: 5 });
  const headers = { 'X-API-Key': org.clientId, 'X-API-Secret': org.clientSecret };
  const statuses: number[] = [];
  const remaining: string[] = [];
  for (let i = 0; i < 6; i++) {
    const response = await fetch(`${(i % 2 === 0 ? a : b).url}/api/v1/assistants/`, { headers });
    statuses.push(response.status);
    remaining.push(response.headers.get('x-ratelimit-remaining')!);
  }
  expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  expect(remaining).toEqual(['4', '3', '2', '1', '0', '0']);
});

test('a watcher on one instance sees the reply generated on another', async () => {
  const [a, b] = instances;
  const org = await a.app.services.organizations.create({ name: `Watch ${Date.now()}` });
  const headers = { 'X-API-Key': org.clientId, 'X-API-Secret': org.clientSecret, 'Content-Type': 'application/json' };
  const post = async (base: string, path: string, body: unknown) =>
    (await (await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) })).json()).data;
  const assistant = await post(a.url, '/api/v1/assistants', { name: 'Shared' });
  const session = await post(a.url, '/api/v1/sessions', { assistant_id: assistant.id });

  const watcher = createClient({
    url: b.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { 'X-API-Key': org.clientId, 'X-API-Secret': org.clientSecret },
    retryAttempts: 0,
  });
  const deltas: string[] = [];
  let finished!: () => void;
  const completed = new Promise<void>((resolve) => (finished = resolve));
  const dispose = watcher.subscribe(
    {
      query: `subscription ($id: ID!) { sessionEvents(sessionId: $id) { __typename ... on MessageDelta { delta } } }`,
      variables: { id: session.id },
    },
    {
      next: (result) => {
        const event = (result.data as any).sessionEvents;
        if (event.__typename === 'MessageDelta') deltas.push(event.delta);
        if (event.__typename === 'MessageCompleted') finished();
      },
      error: () => {},
      complete: () => {},
    },
  );
  await new Promise((resolve) => setTimeout(resolve, 300));
  const sent = await post(a.url, `/api/v1/sessions/${session.id}/messages`, { content: 'Hello from A' });
  await completed;
  dispose();
  await watcher.dispose();
  expect(deltas.join('')).toBe(sent.assistant_message.content);
  expect(deltas.length).toBeGreaterThan(3);
});

test('ingestion jobs are shared between instances and none runs twice', async () => {
  const [a, b] = instances;
  const org = await a.app.services.organizations.create({ name: `Jobs ${Date.now()}` });
  const viewer = { kind: 'apiKey' as const, organizationId: org.organizationId, rateLimitPerHour: 1000 };
  const sources = [];
  for (let i = 0; i < 12; i++) {
    const service = (i % 2 === 0 ? a : b).app.services.knowledge;
    sources.push(await service.addQa(viewer, { question: `Question number ${i} about lockers?`, answer: `Locker ${i} is on floor ${i % 3}.` }));
  }
  const ids = sources.map((source) => source.id);
  // A job is marked done just after its source is ready: wait for the jobs.
  for (let i = 0; i < 200; i++) {
    const done = await a.db.prisma.job.count({ where: { sourceId: { in: ids }, status: { notIn: ['queued', 'running'] } } });
    if (done === ids.length) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(await a.db.prisma.knowledgeSource.count({ where: { id: { in: ids }, status: 'ready' } })).toBe(ids.length);
  const jobs = await a.db.prisma.job.findMany({ where: { sourceId: { in: ids } } });
  expect(jobs).toHaveLength(12);
  expect(jobs.every((job) => job.status === 'done' && job.attempts === 1)).toBe(true);
  // Retrieval on PostgreSQL without pgvector scores embeddings in process.
  const found = await b.app.services.knowledge.retrieve({
    organizationId: org.organizationId,
    assistantId: '00000000-0000-4000-8000-000000000000',
    question: 'Where is locker 7?',
    limit: 3,
  });
  expect(found.searched).toBe(true);
  expect(found.references[0].content).toContain('Locker 7');
});

test('the same file uploaded to both instances at once is stored once', async () => {
  const org = await instances[0].app.services.organizations.create({ name: `Uploads ${Date.now()}` });
  const headers = { 'X-API-Key': org.clientId, 'X-API-Secret': org.clientSecret };
  const upload = (instance: Instance) => {
    const form = new FormData();
    form.append('title', 'Opening hours');
    form.append('file_type', 'txt');
    form.append('file', new Blob(['The marina office opens at eight.']), 'hours.txt');
    return fetch(`${instance.url}/api/v1/knowledge/files/`, { method: 'POST', headers, body: form });
  };
  const responses = await Promise.all(Array.from({ length: 6 }, (_, i) => upload(instances[i % 2])));
  const bodies = await Promise.all(responses.map((response) => response.json()));
  expect(responses.map((response) => response.status).filter((status) => status !== 200 && status !== 202), JSON.stringify(bodies)).toEqual([]);
  expect(new Set(bodies.map((body) => body.data.id)).size).toBe(1);
});

test('a job whose instance stopped answering is taken over once its lock goes stale', async () => {
  const [a] = instances;
  const org = await a.app.services.organizations.create({ name: `Stale ${Date.now()}` });
  const organizationId = org.organizationId;
  /** A source being processed, its job running under `lockedBy` since `lockedAt`. */
  const processing = async (question: string, lockedBy: string, lockedAt: Date) => {
    const source = await a.db.prisma.knowledgeSource.create({
      data: { organizationId, kind: 'qa', title: question, question, answer: 'Yes, by the stairs.', status: 'processing' },
    });
    await a.db.prisma.job.create({ data: { organizationId, kind: 'ingest', sourceId: source.id, status: 'running', attempts: 1, lockedBy, lockedAt } });
    return source.id;
  };
  // Its instance claimed it and went silent: no heartbeat for five minutes.
  const stale = await processing('Is there a cloakroom?', 'a-silent-instance:worker', new Date(Date.now() - 5 * 60_000));
  // A live lock is left alone.
  const live = await processing('Is there a lift?', 'a-live-instance:worker', new Date());

  const third = await startInstance(); // looks for stale jobs as it starts
  instances.push(third);
  // The job is marked done just after its source is ready: wait for the job.
  for (let i = 0; i < 100 && (await a.db.prisma.job.findFirstOrThrow({ where: { sourceId: stale } })).status !== 'done'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(await a.db.prisma.knowledgeSource.findUniqueOrThrow({ where: { id: stale } })).toMatchObject({ status: 'ready', chunkCount: 1 });
  expect(await a.db.prisma.job.findFirstOrThrow({ where: { sourceId: stale } })).toMatchObject({ status: 'done', attempts: 2 });
  expect(await a.db.prisma.job.findFirstOrThrow({ where: { sourceId: live } })).toMatchObject({ status: 'running', lockedBy: 'a-live-instance:worker' });
  expect(await a.db.prisma.knowledgeSource.findUniqueOrThrow({ where: { id: live } })).toMatchObject({ status: 'processing' });
});

describe('stopping and resuming a reply through the other instance', () => {
  const LONG = Array.from({ length: 50 }, (_, i) => `piece${i}`).join(' ');
  beforeAll(() => ollama.setBehavior({ reply: LONG, tokenDelayMs: 50 }));
  afterAll(() => ollama.setBehavior({ reply: 'Shared across instances, token by token', tokenDelayMs: 5 }));

  async function thread() {
    const org = await instances[0].app.services.organizations.create({ name: `Replies ${Date.now()}` });
    const headers = { 'X-API-Key': org.clientId, 'X-API-Secret': org.clientSecret };
    const post = async (base: string, path: string, body: unknown) =>
      (await (await fetch(`${base}${path}`, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify(body) })).json()).data;
    const assistant = await post(instances[0].url, '/api/v1/assistants', { name: 'Long' });
    const session = await post(instances[0].url, '/api/v1/sessions', { assistant_id: assistant.id });
    const send = (base: string, signal?: AbortSignal) =>
      fetch(`${base}/api/v1/sessions/${session.id}/messages`, {
        method: 'POST',
        signal,
        headers: { ...headers, 'Content-Type': 'application/json', Accept: 'text/event-stream' },
        body: JSON.stringify({ content: 'Go on and on' }),
      });
    const resume = (base: string, replyId: string, lastEventId: string) =>
      fetch(`${base}/api/v1/sessions/${session.id}/messages/${replyId}/events`, { headers: { ...headers, Accept: 'text/event-stream', 'Last-Event-ID': lastEventId } });
    const stored = async (replyId: string) => {
      for (let i = 0; ; i++) {
        const items = (await (await fetch(`${instances[1].url}/api/v1/sessions/${session.id}/messages`, { headers })).json()).data.items;
        const reply = items.find((item: any) => item.id === replyId);
        if (reply.status !== 'streaming' || i > 200) return reply;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    return { session, headers, send, resume, stored };
  }
  const deltas = (events: SseEvent[]) => events.filter((e) => e.event === 'token').map((e) => JSON.parse(e.data).delta).join('');

  test('a reply generated on one instance, stopped through the other after three tokens, is stored as stopped with exactly what was streamed', async () => {
    const [a, b] = instances;
    const { session, headers, send, stored } = await thread();
    const events: SseEvent[] = [];
    let stop: Promise<Response> | undefined;
    for await (const event of readEvents(await send(a.url))) {
      events.push(event);
      if (events.filter((e) => e.event === 'token').length === 3 && !stop) {
        const replyId = JSON.parse(events[0].data).assistant_message.id;
        stop = fetch(`${b.url}/api/v1/sessions/${session.id}/messages/${replyId}/stop`, { method: 'POST', headers });
      }
    }
    const answer = await (await stop!).json();
    expect(answer).toMatchObject({ status_code: 200, data: { status: 'stopped', content: deltas(events) } });
    expect(events.at(-1)!.event).toBe('done');
    const reply = JSON.parse(events.at(-1)!.data).data.assistant_message;
    expect(reply).toMatchObject({ status: 'stopped', content: deltas(events) });
    expect(deltas(events).length).toBeLessThan(LONG.length);
    expect(await stored(reply.id)).toMatchObject({ status: 'stopped', content: deltas(events) });
  });

  test('a stream from one instance is resumed on the other with Last-Event-ID and followed live to the end', async () => {
    const [a, b] = instances;
    const { send, resume, stored } = await thread();
    const sender = readEvents(await send(a.url));
    const opening: SseEvent[] = [];
    for await (const event of sender) {
      opening.push(event);
      if (opening.length === 5) break;
    }
    const replyId = JSON.parse(opening[0].data).assistant_message.id;
    const rest = await collectEvents(await resume(b.url, replyId, '3'));
    expect(rest[0].id).toBe('4');
    expect(rest.map((e) => Number(e.id))).toEqual(rest.map((_, i) => 4 + i));
    expect(rest.at(-1)!.event).toBe('done');
    const reply = await stored(replyId);
    // The first sender left after event 5, which stopped the generation: whatever was stored, it is rebuilt exactly.
    expect(deltas(opening.slice(0, 3)) + deltas(rest)).toBe(reply.content);
    expect(JSON.parse(rest.at(-1)!.data).data.assistant_message).toMatchObject({ id: replyId, status: reply.status, content: reply.content });
  });

  test('a live reply followed from another instance while its sender stays reads to the complete reply', async () => {
    const [a, b] = instances;
    const { send, resume, stored } = await thread();
    const senderEvents: SseEvent[] = [];
    const reading = (async () => {
      for await (const event of readEvents(await send(a.url))) senderEvents.push(event);
    })();
    while (senderEvents.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
    const replyId = JSON.parse(senderEvents[0].data).assistant_message.id;
    const follower = await collectEvents(await resume(b.url, replyId, '1'));
    await reading;
    const reply = await stored(replyId);
    expect(reply).toMatchObject({ status: 'complete', content: LONG });
    expect(deltas(follower)).toBe(LONG);
    expect(follower.at(-1)!.id).toBe(senderEvents.at(-1)!.id);
  });
});
