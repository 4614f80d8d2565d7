// Knowledge section: ingestion throughput (Q&A pairs/s, PDF pages/s), recall@1
// and recall@5 of lexical, vector and hybrid retrieval on our own question set
// and on real documentation (manuals.ts, beside the naive BM25 baseline),
// and retrieval latency at 1k, 10k and 100k passages (filled in bulk SQL), on
// PGlite and, when DATABASE_URL is set, on PostgreSQL.
//
// Vector figures come from the Ollama test double's stand-in embedder (hashed
// bag of words): they show the machinery works and what it costs, not how well
// a real embedding model would rank. Lexical figures are real.
import { loadConfig } from '../src/config.ts';
import { Prisma } from '../generated/prisma/client.ts';
import { openDatabase, type Database } from '../src/db/database.ts';
import { DEFAULT_FUSION, fuse } from '../src/knowledge/fuse.ts';
import { createPassageUpkeep, searchPassages } from '../src/knowledge/passages.ts';
import { createVectorIndex } from '../src/knowledge/vectors.ts';
import { createLlm } from '../src/llm/ollama.ts';
import { createServices, type Services } from '../src/services/services.ts';
import type { Viewer } from '../src/services/viewer.ts';
import { makePdf } from '../test/fixtures/make-files.ts';
import { startOllamaDouble, type OllamaDouble } from '../test/utils/ollama-double.ts';
import { throwawaySchema } from '../test/utils/postgres.ts';
import type { BenchConfig } from './config.ts';
import { DOCUMENTS, FILLER_WORDS, QUESTIONS } from './data/knowledge-corpus.ts';
import { FigureSet, type Figure } from './lib/figures.ts';
import { addManualFigures, drainJobs, evaluateManuals } from './manuals.ts';
import { percentile } from './lib/stats.ts';

type Store = { name: 'pglite' | 'postgres'; db: Database; drop?: () => Promise<void> };

const EMBED_MODEL = 'nomic-embed-text';
/** Any assistant id: the benchmark's sources serve the whole organization. */
const ASSISTANT = '00000000-0000-4000-8000-000000000000';

/** The source ids of the first k distinct sources in ranked passages. */
function topSources(ranked: Array<{ sourceId: string }>, k: number): string[] {
  const seen: string[] = [];
  for (const { sourceId } of ranked) {
    if (!seen.includes(sourceId)) seen.push(sourceId);
    if (seen.length === k) break;
  }
  return seen;
}

function retrievers(store: Store, llm: ReturnType<typeof createLlm>, organizationId: string) {
  const vectors = createVectorIndex(store.db.prisma);
  const embed = async (question: string) => (await llm.embed(EMBED_MODEL, [question]))[0];
  const query = (question: string) => ({ organizationId, assistantId: ASSISTANT, model: EMBED_MODEL, question, limit: 20 });
  return {
    lexical: (question: string) => searchPassages(store.db.prisma, query(question)),
    vector: async (question: string) => vectors.search({ ...query(question), embedding: await embed(question) }),
    hybrid: async (question: string) => {
      const [lexical, vector] = await Promise.all([
        searchPassages(store.db.prisma, query(question)),
        embed(question).then((embedding) => vectors.search({ ...query(question), embedding })),
      ]);
      // Ranking only: every candidate counts, whatever its score.
      return fuse(lexical, vector, { ...DEFAULT_FUSION, minScore: 0, relativeCutoff: 0, minSimilarity: -1, limit: 20 });
    },
  };
}

/** Fills the organization's index up to `total` passages with synthetic text and random embeddings. */
async function fillTo(store: Store, organizationId: string, total: number, dimensions: number) {
  const prisma = store.db.prisma;
  const current = await prisma.knowledgeChunk.count({ where: { organizationId } });
  const missing = total - current;
  if (missing <= 0) return;
  const source = await prisma.knowledgeSource.create({
    data: { organizationId, kind: 'file', title: `Synthetic ${total}`, status: 'ready', chunkCount: missing, embeddingModel: EMBED_MODEL },
  });
  const vectors = createVectorIndex(prisma);
  const vectorColumn = await vectors.hasPgvector();
  // A bulk load builds the HNSW index once afterwards, much faster than inserting row by row
  // into a live index (the gateway's own ingestion adds a few passages at a time).
  if (vectorColumn) await prisma.$executeRawUnsafe(`DROP INDEX IF EXISTS "KnowledgeChunk_embedding_${dimensions}_idx"`);
  const batch = 5000;
  for (let done = 0; done < missing; done += batch) {
    const size = Math.min(batch, missing - done);
    // Written once with search terms and vector, as replacePassages does. The `g * 0` terms
    // make PostgreSQL evaluate the subqueries once per row.
    await prisma.$executeRaw`
      INSERT INTO "KnowledgeChunk" (id, "organizationId", "sourceId", ordinal, heading, content, embedding, search
                                    ${vectorColumn ? Prisma.sql`, "embeddingVec"` : Prisma.empty})
      SELECT gen_random_uuid(), ${organizationId}::uuid, ${source.id}::uuid, ${done} + g, '', p.content, p.vector,
             to_tsvector('english'::regconfig, p.content) ${vectorColumn ? Prisma.sql`, p.vector::vector` : Prisma.empty}
      FROM generate_series(1, ${size}) AS g,
      LATERAL (
        SELECT (SELECT string_agg((${FILLER_WORDS}::text[])[1 + floor(random() * ${FILLER_WORDS.length})::int], ' ')
                  FROM generate_series(1, 60 + g * 0)) AS content,
               ARRAY(SELECT random() - 0.5 FROM generate_series(1, ${dimensions} + g * 0))::float8[] AS vector
      ) AS p`;
  }
  if (vectorColumn) await vectors.ensureIndex(dimensions);
  // As the gateway does after ingestion: the planner needs statistics to use the indexes.
  const upkeep = createPassageUpkeep(prisma);
  upkeep.passagesChanged({ written: missing, deleted: 0 });
  await upkeep.settled();
}

async function openStores(): Promise<Store[]> {
  const stores: Store[] = [{ name: 'pglite', db: await openDatabase({}) }];
  if (process.env.DATABASE_URL) {
    const schema = await throwawaySchema('bench_knowledge');
    stores.push({ name: 'postgres', db: await openDatabase({ databaseUrl: schema.url }), drop: schema.drop });
  }
  return stores;
}

async function measureStore(store: Store, double: OllamaDouble, config: BenchConfig, figures: FigureSet, log: (line: string) => void) {
  const appConfig = loadConfig({ OLLAMA_HOST: double.url, OLLAMA_EMBED_MODEL: EMBED_MODEL, ...(store.name === 'postgres' ? { DATABASE_URL: process.env.DATABASE_URL } : {}) });
  const llm = createLlm({ host: double.url });
  const services = createServices({ prisma: store.db.prisma, llm, config: appConfig });
  const org = await services.organizations.create({ name: `Knowledge bench ${store.name}` });
  const viewer: Viewer = { kind: 'apiKey', organizationId: org.organizationId, rateLimitPerHour: 1_000_000 };
  const prefix = store.name;
  const smoke = config.smoke;

  // Ingestion, on its own: Q&A pairs, then the pages of one PDF.
  const pairs = smoke ? 20 : 300;
  let started = performance.now();
  for (let i = 0; i < pairs; i++) {
    await services.knowledge.addQa(viewer, { question: `Bench question ${i} about item ${i * 7}?`, answer: `The answer to bench question ${i} is ${i * 13}.` });
  }
  await drainJobs(services);
  figures.add(`${prefix}.ingest.qa`, `${prefix}: Q&A pairs ingested per second`, '/s', pairs / ((performance.now() - started) / 1000));
  const pages = smoke ? 5 : 100;
  const pdf = await makePdf(pages);
  started = performance.now();
  await services.knowledge.addFile(viewer, { title: 'Bench manual', fileType: 'pdf', file: new File([pdf as Uint8Array<ArrayBuffer>], 'manual.pdf') });
  await drainJobs(services);
  figures.add(`${prefix}.ingest.pdf`, `${prefix}: PDF pages ingested per second (${pages} pages)`, '/s', pages / ((performance.now() - started) / 1000));

  // Our corpus, uploaded as Markdown files like a user would.
  const idOf = new Map<string, string>();
  for (const document of DOCUMENTS) {
    const { source } = await services.knowledge.addFile(viewer, {
      title: document.title,
      fileType: 'md',
      file: new File([document.text], `${document.id}.md`),
    });
    idOf.set(source.id, document.id);
  }
  await drainJobs(services);
  const retrieve = retrievers(store, llm, org.organizationId);

  const questions = smoke ? QUESTIONS.slice(0, 8) : QUESTIONS;
  for (const method of ['lexical', 'vector', 'hybrid'] as const) {
    let at1 = 0;
    let at5 = 0;
    for (const { question, answer } of questions) {
      const top = topSources(await retrieve[method](question), 5).map((id) => idOf.get(id));
      if (top[0] === answer) at1++;
      if (top.includes(answer)) at5++;
    }
    const target = method === 'hybrid' ? ({ op: '>=', value: 0.9 } as const) : undefined;
    figures.add(`${prefix}.recall1.${method}`, `${prefix}: recall@1 ${method}`, '', at1 / questions.length);
    figures.add(`${prefix}.recall5.${method}`, `${prefix}: recall@5 ${method}${method === 'vector' ? ' (stand-in embedder)' : ''}`, '', at5 / questions.length, target);
  }

  // Latency as the index grows. The in-process vector fallback (no pgvector) stops at 10k.
  const dimensions = (await llm.embed(EMBED_MODEL, ['x']))[0].length;
  const sizes = smoke ? [1000] : store.name === 'pglite' ? [1000, 10_000, 100_000] : [1000, 10_000];
  const repeats = smoke ? 1 : 3;
  for (const size of sizes) {
    const loadStarted = performance.now();
    await fillTo(store, org.organizationId, size, dimensions);
    log(`${store.name}: ${size} passages ready in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);
    const label = size >= 1000 ? `${size / 1000}k` : String(size);
    for (let run = 0; run < config.runs; run++) {
      for (const method of ['lexical', 'vector', 'hybrid'] as const) {
        const samples: number[] = [];
        for (let r = 0; r < repeats; r++) {
          for (const { question } of questions) {
            const t0 = performance.now();
            await retrieve[method](question);
            samples.push(performance.now() - t0);
          }
        }
        const target = method === 'hybrid' && size === 100_000 && store.name === 'pglite' ? ({ op: '<=', value: 20 } as const) : undefined;
        figures.add(`${prefix}.latency.${method}.${label}.p50`, `${prefix}: ${method} retrieval p50 at ${label} passages`, 'ms', percentile(samples, 50));
        figures.add(`${prefix}.latency.${method}.${label}.p95`, `${prefix}: ${method} retrieval p95 at ${label} passages`, 'ms', percentile(samples, 95), target);
      }
    }
  }
}

export async function knowledgeSection(config: BenchConfig, log: (line: string) => void): Promise<Figure[]> {
  const figures = new FigureSet('knowledge');
  const double = await startOllamaDouble({ models: ['llama3.2', EMBED_MODEL] });
  const stores = await openStores();
  try {
    for (const store of stores) {
      log(`measuring on ${store.name}`);
      await measureStore(store, double, config, figures, log);
      // Real documentation, on PGlite only: uploading it through the extraction sandbox takes minutes.
      if (store.name === 'pglite' && !config.smoke) {
        const manuals = await openDatabase({});
        try {
          addManualFigures(figures, store.name, await evaluateManuals(manuals, double, EMBED_MODEL, log));
        } finally {
          await manuals.close();
        }
      }
    }
  } finally {
    for (const store of stores) {
      await store.db.close();
      await store.drop?.();
    }
    await double.close();
  }
  return figures.list();
}
