// A reply in progress is stored as it grows, so a gateway killed mid-reply
// (kill -9: no shutdown code runs) leaves it behind, and the next start marks
// it incomplete. With PostgreSQL, where other live instances may be streaming,
// only replies whose row stopped being refreshed are ended.
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/database.ts';
import { createLlm } from '../src/llm/ollama.ts';
import { createOrganizationService } from '../src/services/organization.ts';
import { startOllamaDouble, type OllamaDouble } from './utils/ollama-double.ts';
import { REDIS_URL, throwawaySchema } from './utils/postgres.ts';
import { api, killAll, startServer, tempDir } from './utils/process.ts';
import { readEvents } from './utils/sse.ts';

const WORDS = Array.from({ length: 80 }, (_, i) => `word${i}`);
const REPLY = WORDS.join(' ');
const TOKEN_DELAY_MS = 100;

let ollama: OllamaDouble | undefined;

/** Sends a message to a session and asks for the reply as server-sent events. */
function streamMessage(server: { url: string }, auth: { clientId: string; clientSecret: string }, sessionId: string, content: string) {
  return fetch(`${server.url}/api/v1/sessions/${sessionId}/messages`, {
    method: 'POST',
    headers: { 'X-API-Key': auth.clientId, 'X-API-Secret': auth.clientSecret, 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify({ content }),
  });
}
afterEach(killAll);
afterAll(async () => ollama?.close());

describe('with PGlite in a real process', () => {
  test('a reply cut by kill -9 is there after the restart as incomplete, with the tokens sent up to about a second before', async () => {
    ollama = await startOllamaDouble({ models: ['llama3.2', 'nomic-embed-text'], reply: REPLY, tokenDelayMs: TOKEN_DELAY_MS });
    const data = await tempDir('gateway-hard-kill-');
    try {
      const env = { DATA_DIR: data.dir, OLLAMA_HOST: ollama.url };
      const first = await startServer(env);
      const auth = first.credentials!;
      const assistant = (await api(first, auth, 'POST', '/api/v1/assistants', { name: 'Long talker' })).body.data;
      const session = (await api(first, auth, 'POST', '/api/v1/sessions', { assistant_id: assistant.id })).body.data;

      const response = await streamMessage(first, auth, session.id, 'Tell me everything');
      expect(response.status).toBe(200);
      const received: Array<{ delta: string; at: number }> = [];
      let watched: any;
      // Read without closing the stream: a client that left would have the reply stored as
      // incomplete at once, before the kill this test is about.
      const events = readEvents(response);
      for (let item = await events.next(); !item.done; item = await events.next()) {
        const event = item.value;
        if (event.event !== 'token') continue;
        received.push({ delta: JSON.parse(event.data).delta, at: performance.now() });
        if (received.length === 10) {
          // Meanwhile, the history shows the reply as it stands.
          watched = (await api(first, auth, 'GET', `/api/v1/sessions/${session.id}/messages`)).body.data.items;
        }
        if (received.length === 30) break;
      }
      expect(watched.map((m: any) => [m.role, m.status])).toEqual([
        ['user', 'complete'],
        ['assistant', 'streaming'],
      ]);
      expect(REPLY.startsWith(watched[1].content)).toBe(true);
      expect(watched[1].content.length).toBeGreaterThan(0);

      const killedAt = performance.now();
      const exit = await first.stop('SIGKILL');
      expect(exit.signal).toBe('SIGKILL');
      await events.return(undefined);

      const second = await startServer(env);
      expect(second.stdout()).toMatch(/Marked 1 reply left streaming by a stopped process as incomplete/);
      const history = (await api(second, auth, 'GET', `/api/v1/sessions/${session.id}/messages`)).body.data;
      expect(history.total).toBe(2);
      const [question, reply] = history.items;
      expect(question).toMatchObject({ role: 'user', content: 'Tell me everything' });
      expect(reply).toMatchObject({ role: 'assistant', status: 'incomplete', model: 'llama3.2' });
      expect(reply.error).toMatch(/server stopped before the reply was finished/);
      // What was stored is the reply as it was, never more than what the model sent.
      expect(REPLY.startsWith(reply.content)).toBe(true);
      // At most about a second behind: every token the client had a second and a half before the kill is there.
      const surely = received.filter((token) => token.at < killedAt - 1_500).map((token) => token.delta).join('');
      expect(surely.length).toBeGreaterThan(0);
      expect(reply.content.startsWith(surely)).toBe(true);
      // The thread goes on: the next message is answered, and the cut reply is history, not streaming.
      ollama.setBehavior({ reply: 'Short one.', tokenDelayMs: 0 });
      const next = await api(second, auth, 'POST', `/api/v1/sessions/${session.id}/messages`, { content: 'Again?' });
      expect(next.status).toBe(201);
      expect(next.body.data.assistant_message).toMatchObject({ status: 'complete', content: 'Short one.' });
    } finally {
      await killAll();
      await data.remove();
    }
  }, 120_000);
});

describe('stopping with SIGTERM', () => {
  test('a reply streaming when the server is told to stop ends with a 503 error event, and its partial reply is stored as incomplete', async () => {
    ollama ??= await startOllamaDouble({ models: ['llama3.2', 'nomic-embed-text'] });
    ollama.setBehavior({ reply: REPLY, tokenDelayMs: TOKEN_DELAY_MS });
    const data = await tempDir('gateway-sigterm-');
    try {
      const env = { DATA_DIR: data.dir, OLLAMA_HOST: ollama.url };
      const first = await startServer(env);
      const auth = first.credentials!;
      const assistant = (await api(first, auth, 'POST', '/api/v1/assistants', { name: 'Interrupted politely' })).body.data;
      const session = (await api(first, auth, 'POST', '/api/v1/sessions', { assistant_id: assistant.id })).body.data;
      const response = await streamMessage(first, auth, session.id, 'Tell me everything');
      let received = '';
      const events: Array<{ event: string; data: string }> = [];
      let stopped: Promise<unknown> | undefined;
      for await (const event of readEvents(response)) {
        events.push(event);
        if (event.event === 'token') received += JSON.parse(event.data).delta;
        if (events.length === 5) stopped = first.stop('SIGTERM');
      }
      expect(await stopped).toEqual({ code: 0, signal: null });
      const last = events.at(-1)!;
      expect(last.event).toBe('error');
      const envelope = JSON.parse(last.data);
      expect(envelope).toMatchObject({ status: 'error', status_code: 503, data: null });
      expect(envelope.detail).toMatch(/server is stopping.*stored.*incomplete/);

      const second = await startServer(env);
      const [, reply] = (await api(second, auth, 'GET', `/api/v1/sessions/${session.id}/messages`)).body.data.items;
      // Exactly what the client received, stored by the stopping server itself.
      expect(reply).toMatchObject({ role: 'assistant', status: 'incomplete', content: received });
      expect(reply.error).toMatch(/server stopped before the reply was finished/);
      expect(second.stdout()).not.toMatch(/Marked \d+ repl/);
    } finally {
      await killAll();
      await data.remove();
    }
  }, 90_000);
});

describe('with PostgreSQL and several instances', () => {
  test('an instance ends the replies of a dead one whose rows went stale, and leaves live ones streaming', async () => {
    const schema = await throwawaySchema('gateway_replies');
    const db = await openDatabase({ databaseUrl: schema.url });
    ollama ??= await startOllamaDouble({ models: ['llama3.2', 'nomic-embed-text'] });
    try {
      const { prisma } = db;
      const organization = { id: (await createOrganizationService({ prisma, defaultRateLimit: 1000 }).create({ name: 'Streaming' })).organizationId };
      const assistant = await prisma.assistant.create({ data: { organizationId: organization.id, name: 'A' } });
      const session = await prisma.session.create({ data: { organizationId: organization.id, assistantId: assistant.id } });
      const streaming = (content: string, updatedAt: Date) =>
        prisma.message.create({
          data: { organizationId: organization.id, sessionId: session.id, role: 'assistant', content, status: 'streaming', updatedAt },
        });
      // Its instance died a minute ago; another instance's reply was saved a second ago.
      const dead = await streaming('Half of a', new Date(Date.now() - 60_000));
      const live = await streaming('Still', new Date(Date.now() - 1_000));

      const config = loadConfig({ OLLAMA_HOST: ollama.url, DATABASE_URL: schema.url, REDIS_URL });
      const app = buildApp({ config, db, llm: createLlm({ host: ollama.url }), runJobs: false });
      await app.ready;
      await app.close();
      expect(await prisma.message.findUniqueOrThrow({ where: { id: dead.id } })).toMatchObject({
        status: 'incomplete',
        content: 'Half of a',
        error: 'The server stopped before the reply was finished.',
      });
      expect(await prisma.message.findUniqueOrThrow({ where: { id: live.id } })).toMatchObject({ status: 'streaming', content: 'Still' });
    } finally {
      await db.close();
      await schema.drop();
    }
  }, 60_000);

  test('many replies streaming at once are all saved, in several short statements', async () => {
    const schema = await throwawaySchema('gateway_replies');
    const db = await openDatabase({ databaseUrl: schema.url });
    const slow = await startOllamaDouble({ models: ['llama3.2', 'nomic-embed-text'], reply: REPLY, tokenDelayMs: 50 });
    const config = loadConfig({ OLLAMA_HOST: slow.url, DATABASE_URL: schema.url, MAX_CONCURRENT_GENERATIONS: '60', GENERATION_QUEUE_SIZE: '0' });
    const app = buildApp({ config, db, llm: createLlm({ host: slow.url }), runJobs: false });
    try {
      const org = await app.services.organizations.create({ name: 'Busy' });
      const headers = { 'X-API-Key': org.clientId, 'X-API-Secret': org.clientSecret, 'Content-Type': 'application/json' };
      const post = async (path: string, body: unknown) =>
        (await app.fetch(new Request(`http://gateway.test${path}`, { method: 'POST', headers, body: JSON.stringify(body) }))).json();
      const assistant = (await post('/api/v1/assistants', { name: 'Many' })).data;
      const sessions = await Promise.all(Array.from({ length: 30 }, async () => (await post('/api/v1/sessions', { assistant_id: assistant.id })).data.id));
      const sent = Promise.all(sessions.map((id) => post(`/api/v1/sessions/${id}/messages`, { content: 'All at once' })));
      // 30 replies of 80 tokens 50 ms apart: 4 s. Once every one has streamed for a while, each row holds part of it.
      let rows: Array<{ status: string; content: string }> = [];
      for (let i = 0; i < 60; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        rows = await db.prisma.message.findMany({ where: { role: 'assistant', sessionId: { in: sessions } }, select: { status: true, content: true } });
        if (rows.length === 30 && rows.every((row) => row.status === 'streaming' && row.content !== '')) break;
      }
      expect(rows).toHaveLength(30);
      expect(rows.filter((row) => row.status === 'streaming' && row.content !== '' && REPLY.startsWith(row.content))).toHaveLength(30);
      const replies = (await sent).map((body) => body.data.assistant_message);
      expect(replies.every((reply) => reply.status === 'complete' && reply.content === REPLY)).toBe(true);
    } finally {
      await app.close();
      await db.close();
      await slow.close();
      await schema.drop();
    }
  }, 60_000);

  test('a reply streaming on PostgreSQL is stored as it grows, then finished with exactly what the client received', async () => {
    const schema = await throwawaySchema('gateway_replies');
    const db = await openDatabase({ databaseUrl: schema.url });
    const slow = await startOllamaDouble({ models: ['llama3.2', 'nomic-embed-text'], reply: REPLY, tokenDelayMs: 50 });
    const config = loadConfig({ OLLAMA_HOST: slow.url, DATABASE_URL: schema.url });
    const app = buildApp({ config, db, llm: createLlm({ host: slow.url }), runJobs: false });
    try {
      const org = await app.services.organizations.create({ name: 'Growing' });
      const headers = { 'X-API-Key': org.clientId, 'X-API-Secret': org.clientSecret, 'Content-Type': 'application/json' };
      const post = async (path: string, body: unknown) =>
        app.fetch(new Request(`http://gateway.test${path}`, { method: 'POST', headers, body: JSON.stringify(body) }));
      const assistant = (await (await post('/api/v1/assistants', { name: 'Grower' })).json()).data;
      const session = (await (await post('/api/v1/sessions', { assistant_id: assistant.id })).json()).data;
      const sent = post(`/api/v1/sessions/${session.id}/messages`, { content: 'Go on' });
      // Read the row itself, as a process reading after a crash would, while the reply streams (80 tokens, 4 s).
      const seen: string[] = [];
      for (let i = 0; i < 40; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const row = await db.prisma.message.findFirst({ where: { sessionId: session.id, role: 'assistant' } });
        if (row?.status === 'streaming') seen.push(row.content);
        if (row && row.status !== 'streaming') break;
      }
      const reply = (await (await sent).json()).data.assistant_message;
      expect(reply).toMatchObject({ status: 'complete', content: REPLY });
      const growing = [...new Set(seen.filter(Boolean))];
      // Saved about once a second, never per token: a few distinct snapshots, each a prefix of the next.
      expect(growing.length).toBeGreaterThanOrEqual(2);
      expect(growing.length).toBeLessThan(12);
      for (const [i, content] of growing.entries()) expect((growing[i + 1] ?? REPLY).startsWith(content)).toBe(true);
      const stored = await db.prisma.message.findUniqueOrThrow({ where: { id: reply.id } });
      expect(stored).toMatchObject({ status: 'complete', content: REPLY, error: null });
    } finally {
      await app.close();
      await db.close();
      await slow.close();
      await schema.drop();
    }
  }, 60_000);
});
