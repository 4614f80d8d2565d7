// Serving under load: how fast the gateway answers others while it ingests
// large files. A gateway process (`node src/server.ts`, PGlite, the Ollama
// double for embeddings) is first sampled idle, then while `files` text files of
// `fileMb` MB, uploaded all at once through REST by one organization, are
// indexed: latency of `/healthz` and of a small authenticated read
// (`GET /api/v1/assistants/`, a few rows) sampled back to back by two closed
// loops, the upload replies, the time until every file is ready, and the
// gateway's peak RSS. Target: p99 ≤ 100 ms for both reads
// during ingestion.
//
// Later figures of hostile load (rate limits, floods) belong here too: each
// scenario is one function returning its samples; `record` turns them into figures.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { BenchConfig } from './config.ts';
import { tempDir } from './lib/children.ts';
import { now, sleep } from './lib/clock.ts';
import { startDouble, type Double } from './lib/double.ts';
import { FigureSet, type Figure } from './lib/figures.ts';
import { raiseRateLimit, startGateway, type Gateway } from './lib/gateway-process.ts';
import { agent, authHeaders, http, type Auth } from './lib/http.ts';
import { percentile } from './lib/stats.ts';
import { makeManual } from '../test/fixtures/make-files.ts';

const P99_TARGET = { op: '<=', value: 100 } as const;

/** Latency samples of the two probes over one phase (ms). */
type Probes = { healthz: number[]; read: number[]; errors: number };

/**
 * Two closed loops, one per probe, each sending its next request `pauseMs`
 * after the last answer, until `until` resolves. A request that fails counts as
 * an error and as its time taken (a stalled gateway shows in the figures).
 */
async function sample(url: string, auth: Auth, pauseMs: number, until: Promise<unknown>): Promise<Probes> {
  const probes: Probes = { healthz: [], read: [], errors: 0 };
  let done = false;
  void until.finally(() => (done = true));
  const loop = async (path: string, into: number[], expectRows: boolean) => {
    while (!done) {
      const started = now();
      const reply = await http('GET', `${url}${path}`, { auth: expectRows ? auth : null, timeoutMs: 120_000 }).catch(() => null);
      into.push(now() - started);
      if (!reply || reply.status !== 200 || (expectRows && !Array.isArray(reply.body?.data?.items))) probes.errors++;
      await sleep(pauseMs);
    }
  };
  await Promise.all([loop('/healthz', probes.healthz, false), loop('/api/v1/assistants/', probes.read, true), until]);
  return probes;
}

/** POSTs a multipart form with one file, streamed from memory; resolves with the status and the reply's time. */
function upload(url: string, auth: Auth, title: string, file: Buffer): Promise<{ status: number; ms: number; body: any }> {
  const boundary = `----bench${Math.random().toString(16).slice(2)}`;
  const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const head = Buffer.from(`${field('title', title)}${field('file_type', 'txt')}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${title}.txt"\r\nContent-Type: text/plain\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const started = now();
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/api/v1/knowledge/files/`,
      {
        method: 'POST',
        agent,
        timeout: 600_000,
        headers: { ...authHeaders(auth), 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(head.length + file.length + tail.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          let body: unknown = null;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {}
          resolve({ status: res.statusCode ?? 0, ms: now() - started, body });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('The upload timed out')));
    req.on('error', reject);
    req.write(head);
    req.write(file);
    req.end(tail);
  });
}

/** Resolves once every listed source is ready (or fails the run naming the first that failed). */
async function allReady(url: string, auth: Auth, ids: string[], timeoutMs: number): Promise<void> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const reply = await http('GET', `${url}/api/v1/knowledge/files/?limit=100`, { auth, timeoutMs: 120_000 });
    const items: Array<{ id: string; status: string; error: string | null }> = reply.body?.data?.items ?? [];
    const mine = items.filter((item) => ids.includes(item.id));
    const failed = mine.find((item) => item.status === 'failed');
    if (failed) throw new Error(`An upload failed to ingest: ${failed.error}`);
    if (mine.length === ids.length && mine.every((item) => item.status === 'ready')) return;
    if (now() > deadline) throw new Error(`Ingestion did not finish within ${timeoutMs / 1000} s (${mine.filter((i) => i.status === 'ready').length} of ${ids.length} ready).`);
    await sleep(500);
  }
}

/** The gateway process's resident memory now and its peak so far (MB), from /proc (Linux). */
function memoryOf(pid: number): { rssMb: number; peakMb: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
  } catch {
    return { rssMb: Number.NaN, peakMb: Number.NaN };
  }
}

function record(figures: FigureSet, key: string, label: string, probes: Probes, judged: boolean) {
  for (const [probe, name] of [['healthz', '/healthz'], ['read', 'small REST read']] as const) {
    figures.add(`${key}.${probe}.p50`, `${label}: ${name} p50`, 'ms', percentile(probes[probe], 50));
    figures.add(`${key}.${probe}.p99`, `${label}: ${name} p99`, 'ms', percentile(probes[probe], 99), judged ? P99_TARGET : undefined);
    figures.add(`${key}.${probe}.max`, `${label}: ${name} max`, 'ms', Math.max(...probes[probe]));
  }
  figures.add(`${key}.errors`, `${label}: failed probes`, 'count', probes.errors);
}

export async function servingSection(config: BenchConfig, log: (line: string) => void): Promise<Figure[]> {
  const { files, fileMb, idleSeconds, pauseMs, timeoutMs } = config.serving;
  const figures = new FigureSet('serving');
  let double: Double | undefined;
  try {
    double = await startDouble();
    log(`writing ${files} text files of ${fileMb} MB`);
    for (let run = 1; run <= config.runs; run++) {
      const bodies = Array.from({ length: files }, (_, i) => makeManual(Math.round(fileMb * 1024 * 1024), run * 1000 + i));
      const data = tempDir('serving');
      let gateway: Gateway | undefined;
      try {
        gateway = await startGateway({ label: 'gateway (serving)', dataDir: data.dir, ollamaHost: double.url, cpuProfDir: config.cpuProfDir });
        const auth = gateway.credentials!;
        await raiseRateLimit(data.dir, auth.organizationId);
        for (let i = 0; i < 5; i++) {
          const reply = await http('POST', `${gateway.url}/api/v1/assistants/`, { auth, body: { name: `Assistant ${i + 1}`, tone: 'friendly' } });
          if (reply.status !== 201) throw new Error(`Creating an assistant answered ${reply.status}: ${reply.text}`);
        }

        const idle = await sample(gateway.url, auth, pauseMs, sleep(idleSeconds * 1000));
        const idleMemory = memoryOf(gateway.child.pid);
        record(figures, 'idle', 'idle', idle, false);

        const began = now();
        const uploads = Promise.all(bodies.map((body, i) => upload(gateway!.url, auth, `Manual ${run}-${i + 1}`, body)));
        const ingestion = uploads.then(async (replies) => {
          const refused = replies.find((reply) => reply.status !== 202);
          if (refused) throw new Error(`An upload answered ${refused.status}: ${JSON.stringify(refused.body).slice(0, 300)}`);
          await allReady(gateway!.url, auth, replies.map((reply) => reply.body.data.id), timeoutMs);
          return replies;
        });
        const busy = await sample(gateway.url, auth, pauseMs, ingestion.catch(() => {}));
        const replies = await ingestion;
        const ingestSeconds = (now() - began) / 1000;
        const { peakMb } = memoryOf(gateway.child.pid);
        record(figures, 'ingesting', `${files} × ${fileMb} MB ingesting`, busy, true);
        figures.add('ingesting.upload_reply.max', `${files} × ${fileMb} MB: slowest upload reply (202)`, 'ms', Math.max(...replies.map((reply) => reply.ms)));
        figures.add('ingesting.seconds', `${files} × ${fileMb} MB: uploads sent → all ready`, 's', ingestSeconds);
        figures.add('ingesting.mb_per_s', `${files} × ${fileMb} MB: ingestion throughput`, 'MB/s', (files * fileMb) / ingestSeconds);
        figures.add('memory.idle', 'gateway RSS, idle', 'MB', idleMemory.rssMb);
        figures.add('memory.peak', 'gateway peak RSS (while ingesting)', 'MB', peakMb);
        log(
          `run ${run}: idle /healthz p99 ${percentile(idle.healthz, 99).toFixed(1)} ms, read p99 ${percentile(idle.read, 99).toFixed(1)} ms; ` +
            `ingesting ${files} × ${fileMb} MB took ${ingestSeconds.toFixed(1)} s: /healthz p50 ${percentile(busy.healthz, 50).toFixed(1)} p99 ${percentile(busy.healthz, 99).toFixed(1)} max ${Math.max(...busy.healthz).toFixed(0)} ms, ` +
            `read p50 ${percentile(busy.read, 50).toFixed(1)} p99 ${percentile(busy.read, 99).toFixed(1)} max ${Math.max(...busy.read).toFixed(0)} ms (${busy.healthz.length + busy.read.length} probes, ${busy.errors} failed); peak RSS ${peakMb.toFixed(0)} MB`,
        );
      } finally {
        await gateway?.stop();
        data.remove();
      }
    }
    return figures.list();
  } finally {
    await double?.close();
  }
}
