// Ingestion under load, through the documented endpoints: large files are
// stored and indexed in short steps while the gateway keeps answering others,
// an upload cut short says so, and organizations take turns for background jobs.
import { afterEach, expect, test } from 'vitest';
import { buildApp, type App } from '../src/app.ts';
import { createLlm } from '../src/llm/ollama.ts';
import { makeManual } from './fixtures/make-files.ts';
import { createTestApp, type TestApp } from './utils/app.ts';

const apps: TestApp[] = [];
const workers: App[] = [];
afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.close();
  for (const app of apps.splice(0)) await app.close();
}, 120_000);

async function testApp(options: Parameters<typeof createTestApp>[0] = {}) {
  const app = await createTestApp(options);
  apps.push(app);
  return app;
}

/** A second instance on the same database that runs the jobs (the test app's own runs none). */
function startWorker(t: TestApp) {
  const worker = buildApp({ config: t.config, db: t.db, llm: createLlm({ host: t.ollama.url }) });
  workers.push(worker);
  return worker;
}

function upload(t: TestApp, title: string, file: Uint8Array, auth = t.org) {
  const form = new FormData();
  form.append('title', title);
  form.append('file_type', 'txt');
  form.append('file', new Blob([file as Uint8Array<ArrayBuffer>]), `${title}.txt`);
  return t.app.fetch(
    new Request('http://gateway.test/api/v1/knowledge/files/', {
      method: 'POST',
      headers: { 'X-API-Key': auth.clientId, 'X-API-Secret': auth.clientSecret },
      body: form,
    }),
  );
}

async function settled(t: TestApp, id: string, auth = t.org) {
  for (let i = 0; i < 1200; i++) {
    const { body } = await t.json('GET', `/api/v1/knowledge/files/${id}`, { auth });
    if (body.data.status === 'ready' || body.data.status === 'failed') return body.data;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`source ${id} never settled`);
}

test('a large file is indexed while /healthz and reads keep answering, and its passages appear all at once', async () => {
  // Polled back to back for a while: more requests than the default hourly limit.
  const t = await testApp({ env: { RATE_LIMIT_PER_HOUR: '1000000' } });
  const response = await upload(t, 'Big manual', makeManual(1024 * 1024, 7));
  expect(response.status).toBe(202);
  const { data: source } = await response.json();

  const latencies: number[] = [];
  const chunkCounts = new Set<number>();
  let status = 'pending';
  while (status !== 'ready' && status !== 'failed') {
    const started = performance.now();
    expect((await t.request('GET', '/healthz')).status).toBe(200);
    const read = await t.json('GET', `/api/v1/knowledge/files/${source.id}`);
    latencies.push(performance.now() - started);
    ({ status } = read.body.data);
    chunkCounts.add(read.body.data.chunk_count);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(status).toBe('ready');
  const [{ passages }] = await t.db.prisma.$queryRaw<{ passages: number }[]>`
    SELECT count(*)::int AS passages FROM "KnowledgeChunk" WHERE "sourceId" = ${source.id}::uuid`;
  // About 1,200 passages, none left over from the batches: the count went from nothing to all of them.
  expect(passages).toBeGreaterThan(1000);
  expect([...chunkCounts]).toEqual([0, passages]);
  // Written in one statement, these passages held the database for several seconds.
  expect(Math.max(...latencies)).toBeLessThan(1000);
  expect(latencies.length).toBeGreaterThan(20);
}, 180_000);

test('an upload cut short before it was stored says so, and uploading the file again indexes it', async () => {
  const t = await testApp({ runJobs: false });
  const file = makeManual(300 * 1024, 3);
  const first = await upload(t, 'Handbook', file);
  expect(first.status).toBe(202);
  const { data: source } = await first.json();
  // As a gateway stopped while it stored the file leaves it: some of its parts missing.
  await t.db.prisma.knowledgeFilePart.deleteMany({ where: { sourceId: source.id, part: { gt: 0 } } });
  startWorker(t);
  const failed = await settled(t, source.id);
  expect(failed.status).toBe('failed');
  expect(failed.error).toMatch(/cut short.*upload it again/);

  const again = await upload(t, 'Handbook', file);
  expect(again.status).toBe(202);
  expect((await again.json()).data.id).toBe(source.id);
  const ready = await settled(t, source.id);
  expect(ready.status).toBe('ready');
  expect(ready.chunk_count).toBeGreaterThan(100);
}, 120_000);

test("one organization's many uploads do not keep another's waiting: organizations take turns", async () => {
  const t = await testApp({ runJobs: false });
  const busy = await Promise.all(Array.from({ length: 5 }, async (_, i) => (await (await upload(t, `Acme ${i}`, makeManual(20 * 1024, i + 1))).json()).data.id as string));
  const other = (await (await upload(t, 'Globex', makeManual(20 * 1024, 99), t.otherOrg)).json()).data.id as string;
  startWorker(t);
  const indexedAt = async (id: string, auth = t.org) => Date.parse((await settled(t, id, auth)).indexed_at);
  const busyTimes = await Promise.all(busy.map((id) => indexedAt(id)));
  const otherTime = await indexedAt(other, t.otherOrg);
  // Queued last, indexed second: after the first of the five, not after all of them.
  expect(busyTimes.filter((time) => time < otherTime)).toHaveLength(1);
}, 120_000);

test('uploads over a real connection are parsed as they stream in, and one past the limit is a 413 before it is all sent', async () => {
  const t = await testApp({ env: { UPLOAD_MAX_BYTES: String(256 * 1024) }, runJobs: false });
  const { url } = await t.listen();
  const headers = { 'X-API-Key': t.org.clientId, 'X-API-Secret': t.org.clientSecret };
  const form = (bytes: Uint8Array) => {
    const data = new FormData();
    data.append('title', 'Streamed');
    data.append('file_type', 'txt');
    data.append('file', new Blob([bytes as Uint8Array<ArrayBuffer>]), 'streamed.txt');
    return data;
  };
  const accepted = await fetch(`${url}/api/v1/knowledge/files/`, { method: 'POST', headers, body: form(makeManual(200 * 1024, 5)) });
  expect(accepted.status).toBe(202);
  expect((await accepted.json()).data).toMatchObject({ byte_size: 200 * 1024, status: 'pending' });

  // Sent in pieces with no declared length: refused once the file passes the limit.
  const encoded = new Response(form(makeManual(2 * 1024 * 1024, 6)));
  const refused = await fetch(`${url}/api/v1/knowledge/files/`, {
    method: 'POST',
    headers: { ...headers, 'Content-Type': encoded.headers.get('content-type')! },
    body: encoded.body,
    duplex: 'half',
  } as RequestInit);
  expect(refused.status).toBe(413);
  expect((await refused.json()).detail).toContain(`${256 * 1024} bytes (UPLOAD_MAX_BYTES)`);
}, 60_000);
