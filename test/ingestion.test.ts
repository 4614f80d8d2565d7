// Ingestion under load, through the documented endpoints: large files are
// stored and indexed in short steps while the gateway keeps answering others,
// an upload cut short says so, organizations take turns for background jobs,
// and Q&A pairs added one by one are indexed many at a time.
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

async function settled(t: TestApp, id: string, auth = t.org, kind = 'files') {
  for (let i = 0; i < 1200; i++) {
    const { body } = await t.json('GET', `/api/v1/knowledge/${kind}/${id}`, { auth });
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

/** Adds Q&A pairs one request at a time, as a FAQ import does; returns their ids in order. */
async function addPairs(t: TestApp, count: number, prefix: string, auth = t.org) {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const body = { question: `${prefix}: which code opens locker ${i}?`, answer: `Locker ${i} opens with code ${1000 + i}.` };
    const added = await t.json('POST', '/api/v1/knowledge/qa/', { body, auth });
    expect(added.status).toBe(202);
    ids.push(added.body.data.id);
  }
  return ids;
}

const pairStatus = async (t: TestApp, id: string, auth = t.org) => (await t.json('GET', `/api/v1/knowledge/qa/${id}`, { auth })).body.data;

test("Q&A pairs added one by one are indexed many per run, each its own source, and another organization's pairs keep their turn", async () => {
  const t = await testApp({ runJobs: false });
  const acme = await addPairs(t, 40, 'Acme');
  const globex = await addPairs(t, 3, 'Globex', t.otherOrg);
  // One run, as the worker makes one: the oldest pair's job, and the pairs queued behind it.
  const job = await t.app.services.jobs.claim('test-process:worker');
  expect(job?.sourceId).toBe(acme[0]);
  expect(await t.app.services.knowledge.ingest(job!)).toBe('completed');
  const afterOne = await Promise.all(acme.map((id) => pairStatus(t, id)));
  const ready = afterOne.filter((pair) => pair.status === 'ready');
  expect(ready.length).toBeGreaterThan(10);
  expect(ready.every((pair) => pair.chunk_count === 1)).toBe(true);
  expect(afterOne.filter((pair) => pair.status === 'pending')).toHaveLength(acme.length - ready.length);
  expect((await Promise.all(globex.map((id) => pairStatus(t, id, t.otherOrg)))).map((pair) => pair.status)).toEqual(['pending', 'pending', 'pending']);

  startWorker(t);
  for (const id of acme) expect(await settled(t, id, t.org, 'qa')).toMatchObject({ status: 'ready', chunk_count: 1 });
  for (const id of globex) expect(await settled(t, id, t.otherOrg, 'qa')).toMatchObject({ status: 'ready', chunk_count: 1 });
  // Each pair answers its own question, and only its organization's.
  const found = await t.json('POST', '/api/v1/knowledge/search', { body: { query: 'Which code opens locker 17?' } });
  expect(found.body.data.passages[0].source_id).toBe(acme[17]);
  expect(found.body.data.passages.map((passage: { source_id: string }) => passage.source_id)).not.toContain(globex[0]);
  const jobs = await t.db.prisma.job.findMany({ where: { sourceId: { in: [...acme, ...globex] } } });
  expect(jobs.map((queued) => [queued.status, queued.attempts])).toEqual(jobs.map(() => ['done', 1]));
}, 120_000);

test('a run of Q&A pairs that fails stores none of them, and the pairs taken along are queued again without losing an attempt', async () => {
  const t = await testApp({ runJobs: false });
  const pairs = await addPairs(t, 5, 'Acme');
  // The database refuses the run's write (say, a full disk), once.
  let refuse = true;
  const failing = t.db.prisma.$extends({
    query: {
      knowledgeSource: {
        async updateMany({ args, query }) {
          if (refuse && (args.data as { status?: string }).status === 'ready') throw new Error('could not extend file: No space left on device');
          return query(args);
        },
      },
    },
  }) as unknown as typeof t.db.prisma;
  const worker = buildApp({ config: t.config, db: { ...t.db, prisma: failing }, llm: createLlm({ host: t.ollama.url }), runJobs: false });
  workers.push(worker);
  const job = await worker.services.jobs.claim('test-process:worker');
  await expect(worker.services.knowledge.ingest(job!)).rejects.toThrow(/No space left/);
  await worker.services.jobs.fail(job!, 'could not extend file', false);

  const statuses = await Promise.all(pairs.map((id) => pairStatus(t, id)));
  expect(statuses[0]).toMatchObject({ status: 'failed', chunk_count: 0, error: expect.stringMatching(/retried shortly/) });
  expect(statuses.slice(1).map((pair) => [pair.status, pair.chunk_count])).toEqual(pairs.slice(1).map(() => ['pending', 0]));
  const queued = await t.db.prisma.job.findMany({ where: { sourceId: { in: pairs.slice(1) } } });
  expect(queued.map((other) => [other.status, other.attempts, other.lockedBy])).toEqual(queued.map(() => ['queued', 0, null]));
  expect(await t.db.prisma.knowledgeChunk.count({ where: { sourceId: { in: pairs } } })).toBe(0);

  // Once the database takes writes again, every pair is indexed, the failed one on its retry.
  refuse = false;
  await t.db.prisma.job.updateMany({ where: { id: job!.id }, data: { runAt: new Date() } });
  startWorker(t);
  for (const id of pairs.slice(1)) expect(await settled(t, id, t.org, 'qa')).toMatchObject({ status: 'ready', chunk_count: 1 });
  for (let i = 0; i < 200 && (await pairStatus(t, pairs[0])).status !== 'ready'; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  expect(await pairStatus(t, pairs[0])).toMatchObject({ status: 'ready', chunk_count: 1, error: null });
}, 120_000);
