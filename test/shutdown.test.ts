// A gateway told to stop (SIGTERM) on a shared PostgreSQL gives back what it
// holds: its open streams end with an error event, no reply of its own stays
// "streaming", and the job it was running is queued again at once for another
// instance, without counting the cut-short run as an attempt.
import { afterAll, afterEach, expect, test } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { startOllamaDouble, type OllamaDouble } from './utils/ollama-double.ts';
import { throwawaySchema } from './utils/postgres.ts';
import { api, killAll, startServer, tempDir } from './utils/process.ts';
import { readEvents, type SseEvent } from './utils/sse.ts';

const REPLY = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');

let ollama: OllamaDouble | undefined;
afterEach(killAll);
afterAll(async () => ollama?.close());

test('SIGTERM mid-reply and mid-job: the stream ends with an error event, nothing stays streaming, and another instance takes the job at once', async () => {
  ollama = await startOllamaDouble({ models: ['llama3.2', 'nomic-embed-text'], reply: REPLY, tokenDelayMs: 80, embedDelayMs: 5_000 });
  const schema = await throwawaySchema('gateway_shutdown');
  const db = await openDatabase({ databaseUrl: schema.url });
  const folders = [await tempDir('gateway-shutdown-a-'), await tempDir('gateway-shutdown-b-')];
  try {
    const env = (dir: string) => ({ DATA_DIR: dir, DATABASE_URL: schema.url, OLLAMA_HOST: ollama!.url });
    const first = await startServer(env(folders[0].dir));
    const auth = first.credentials!;
    const source = (await api(first, auth, 'POST', '/api/v1/knowledge/qa', { question: 'Where is the cloakroom?', answer: 'By the stairs.' })).body.data;
    // The first instance is embedding it (the model takes five seconds).
    let job = await db.prisma.job.findFirst({ where: { sourceId: source.id } });
    for (let i = 0; i < 100 && job?.status !== 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      job = await db.prisma.job.findFirst({ where: { sourceId: source.id } });
    }
    expect(job).toMatchObject({ status: 'running', attempts: 1 });

    const assistant = (await api(first, auth, 'POST', '/api/v1/assistants', { name: 'Interrupted' })).body.data;
    const session = (await api(first, auth, 'POST', '/api/v1/sessions', { assistant_id: assistant.id })).body.data;
    const response = await fetch(`${first.url}/api/v1/sessions/${session.id}/messages`, {
      method: 'POST',
      headers: { 'X-API-Key': auth.clientId, 'X-API-Secret': auth.clientSecret, 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify({ content: 'Tell me everything' }),
    });
    const events: SseEvent[] = [];
    let stopped: Promise<unknown> | undefined;
    for await (const event of readEvents(response)) {
      events.push(event);
      if (events.length === 4) stopped = first.stop('SIGTERM');
    }
    expect(await stopped).toEqual({ code: 0, signal: null });
    expect(events[0].event).toBe('start');
    expect(events.at(-1)!.event).toBe('error');
    expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ status: 'error', status_code: 503 });

    // Once it has exited: no reply left streaming, the job given back as if it had not been tried.
    expect(await db.prisma.message.count({ where: { status: 'streaming' } })).toBe(0);
    const replyId = JSON.parse(events[0].data).assistant_message.id;
    expect(await db.prisma.message.findUniqueOrThrow({ where: { id: replyId } })).toMatchObject({ status: 'incomplete' });
    expect(await db.prisma.job.findFirstOrThrow({ where: { sourceId: source.id } })).toMatchObject({ status: 'queued', lockedBy: null, attempts: 0 });

    // Another instance takes it at its first look, long before a lock would have gone stale (two minutes).
    const second = await startServer(env(folders[1].dir));
    let ready = (await api(second, auth, 'GET', `/api/v1/knowledge/qa/${source.id}`)).body.data;
    for (let i = 0; i < 600 && ready.status !== 'ready'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ready = (await api(second, auth, 'GET', `/api/v1/knowledge/qa/${source.id}`)).body.data;
    }
    expect(ready).toMatchObject({ status: 'ready', chunk_count: 1 });
    const done = await db.prisma.job.findFirstOrThrow({ where: { sourceId: source.id } });
    expect(done.attempts).toBe(1);
    expect(['done', 'running']).toContain(done.status);
  } finally {
    await killAll();
    await db.close();
    await schema.drop();
    for (const folder of folders) await folder.remove();
  }
}, 180_000);
