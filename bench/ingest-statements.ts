// Where ingestion's time goes, statement by statement: `node bench/ingest-statements.ts
// [--pairs 300] [--pages 100]` ingests Q&A pairs and one PDF as the knowledge
// section does (in process, in-memory PGlite, the Ollama double's embedder), with
// every PGlite statement timed, and prints per Q&A pair and per PDF page the time
// of each kind of statement, beside the wall time.
import { parseArgs } from 'node:util';
import type { EmbeddedPGlite } from '../src/db/pglite-in-worker.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/database.ts';
import { createLlm } from '../src/llm/ollama.ts';
import { createServices } from '../src/services/services.ts';
import type { Viewer } from '../src/services/viewer.ts';
import { makeManual, makePdf } from '../test/fixtures/make-files.ts';
import { startOllamaDouble } from '../test/utils/ollama-double.ts';
import { drainJobs } from './manuals.ts';

const EMBED_MODEL = 'nomic-embed-text';
type Tally = Map<string, { count: number; ms: number; maxMs: number }>;

/** The statement's first words, literals stripped: one line of the table per kind of statement. */
function kindOf(sql: string): string {
  return sql.replace(/--[^\n]*/g, ' ').replace(/\s+/g, ' ').replace(/\$\d+/g, '?').trim().slice(0, 110);
}

/** Times every statement run on `pg`, inside transactions too, into `tally`. */
function timeStatements(pg: EmbeddedPGlite, tally: Tally) {
  const add = (sql: string, ms: number) => {
    const entry = tally.get(kindOf(sql)) ?? { count: 0, ms: 0, maxMs: 0 };
    entry.count++;
    entry.ms += ms;
    entry.maxMs = Math.max(entry.maxMs, ms);
    tally.set(kindOf(sql), entry);
  };
  const timed = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(object, property) {
        const value: unknown = Reflect.get(object, property);
        if (typeof value !== 'function') return value;
        if (property !== 'query' && property !== 'exec') return value.bind(object);
        return async (sql: string, ...rest: unknown[]) => {
          const started = performance.now();
          try {
            return await value.call(object, sql, ...rest);
          } finally {
            add(sql, performance.now() - started);
          }
        };
      },
    });
  const query = pg.query.bind(pg);
  const exec = pg.exec.bind(pg);
  const transaction = pg.transaction.bind(pg);
  pg.query = timed({ query }).query as typeof pg.query;
  pg.exec = timed({ exec }).exec as typeof pg.exec;
  pg.transaction = (async (callback: (tx: unknown) => Promise<unknown>) => {
    const started = performance.now();
    try {
      return await transaction((tx) => callback(timed(tx)));
    } finally {
      add('(whole transaction, BEGIN to COMMIT)', performance.now() - started);
    }
  }) as typeof pg.transaction;
}

/** Wall time and this process's CPU time since `start()`: on a machine shared with other work, CPU time says more. */
function stopwatch() {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  return () => ({ wallMs: performance.now() - wall, cpuMs: (() => { const used = process.cpuUsage(cpu); return (used.user + used.system) / 1000; })() });
}

function print(title: string, tally: Tally, units: number, { wallMs, cpuMs }: { wallMs: number; cpuMs: number }) {
  const rows = [...tally.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const statements = rows.filter(([kind]) => !kind.startsWith('('));
  const statementMs = statements.reduce((sum, [, v]) => sum + v.ms, 0);
  const statementCount = statements.reduce((sum, [, v]) => sum + v.count, 0);
  console.log(
    `\n${title}: ${(wallMs / units).toFixed(2)} ms each (${(units / (wallMs / 1000)).toFixed(1)}/s), CPU ${(cpuMs / units).toFixed(2)} ms each (${(units / (cpuMs / 1000)).toFixed(1)}/s of CPU); ` +
      `${(statementCount / units).toFixed(1)} statements each, ${(statementMs / units).toFixed(2)} ms`,
  );
  console.log('  ms each    times each   longest  statement');
  for (const [kind, { count, ms, maxMs }] of rows.slice(0, 25)) {
    console.log(`${(ms / units).toFixed(3).padStart(8)} ms  ${(count / units).toFixed(2).padStart(6)}×  ${maxMs.toFixed(0).padStart(6)} ms  ${kind}`);
  }
}

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '300' },
    pages: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '0' },
    /** Text files uploaded at once (as the serving section does) and their size in MB; 0 skips them. */
    files: { type: 'string', default: '0' },
    'file-mb': { type: 'string', default: '0.25' },
  },
});
const double = await startOllamaDouble({ models: ['llama3.2', EMBED_MODEL] });
const db = await openDatabase({});
try {
  const tally: Tally = new Map();
  timeStatements(db.pglite!, tally);
  const services = createServices({ prisma: db.prisma, llm: createLlm({ host: double.url }), config: loadConfig({ OLLAMA_HOST: double.url, OLLAMA_EMBED_MODEL: EMBED_MODEL }) });
  const org = await services.organizations.create({ name: 'Ingestion statements' });
  const viewer: Viewer = { kind: 'apiKey', organizationId: org.organizationId, rateLimitPerHour: 1_000_000 };

  // Untimed pairs first, when asked: what a warm gateway pays, rather than a cold one.
  for (let i = 0; i < Number(values.warmup); i++) await services.knowledge.addQa(viewer, { question: `Warm-up ${i}?`, answer: `Warm-up answer ${i}.` });
  await drainJobs(services);
  await services.knowledge.upkeepSettled();
  const pairs = Number(values.pairs);
  tally.clear();
  let elapsed = stopwatch();
  for (let i = 0; i < pairs; i++) {
    await services.knowledge.addQa(viewer, { question: `Bench question ${i} about item ${i * 7}?`, answer: `The answer to bench question ${i} is ${i * 13}.` });
  }
  await drainJobs(services);
  print(`Q&A pairs (${pairs})`, tally, pairs, elapsed());

  const pages = Number(values.pages);
  const pdf = await makePdf(pages);
  await services.knowledge.upkeepSettled();
  tally.clear();
  elapsed = stopwatch();
  await services.knowledge.addFile(viewer, { title: 'Bench manual', fileType: 'pdf', file: new File([pdf as Uint8Array<ArrayBuffer>], 'manual.pdf') });
  await drainJobs(services);
  print(`PDF pages (${pages}; CPU time leaves out the extraction sandbox)`, tally, pages, elapsed());
  await services.knowledge.upkeepSettled();

  const files = Number(values.files);
  if (files > 0) {
    const mb = Number(values['file-mb']);
    const bodies = Array.from({ length: files }, (_, i) => makeManual(Math.round(mb * 1024 * 1024), i + 1));
    tally.clear();
    elapsed = stopwatch();
    await Promise.all(bodies.map((body, i) => services.knowledge.addFile(viewer, { title: `Manual ${i + 1}`, fileType: 'txt', file: new File([new Uint8Array(body)], `manual-${i + 1}.txt`) })));
    await drainJobs(services);
    await services.knowledge.upkeepSettled();
    print(`Text files (${files} × ${mb} MB), per MB`, tally, files * mb, elapsed());
  }
} finally {
  await db.close();
  await double.close();
}
