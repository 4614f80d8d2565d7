// Retrieval quality on real documentation (data/manuals.ts): the documents are
// uploaded as files, as a user would, and each question is answered by the
// retrieval a reply uses (services.knowledge.retrieve, 8 passages), counting a
// hit when the answering document is among the first k distinct sources.
// Lexical alone (the embedding model unavailable), hybrid (the Ollama double's
// stand-in embedder) and the naive BM25 baseline, on the worded and the
// paraphrased halves; near-but-wrong questions should cite nothing.
//
// `node bench/manuals.ts` runs it alone on an in-memory PGlite and prints the figures.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.ts';
import type { Database } from '../src/db/database.ts';
import { createLlm } from '../src/llm/ollama.ts';
import { createServices, type Services } from '../src/services/services.ts';
import type { Viewer } from '../src/services/viewer.ts';
import type { OllamaDouble } from '../test/utils/ollama-double.ts';
import { loadManuals, MANUAL_QUESTIONS, NEAR_MISSES, type ManualQuestion } from './data/manuals.ts';
import type { FigureSet } from './lib/figures.ts';
import { naiveBm25 } from './lib/naive-bm25.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Any assistant id: the sources serve the whole organization. */
const ASSISTANT = '00000000-0000-4000-8000-000000000000';
/** Passages a reply is given (src/services/chat.ts). */
const REPLY_PASSAGES = 8;

type Method = 'lexical' | 'hybrid' | 'naive-bm25';
type Ranked = (question: string) => Promise<string[]>;

/** Runs the queued ingestion jobs here, one after the other, as the job worker does, until none is left. */
export async function drainJobs(services: Services) {
  for (;;) {
    const job = await services.jobs.claim('bench');
    if (!job) return;
    if ((await services.knowledge.ingest(job)) !== 'completed') await services.jobs.complete(job);
  }
}

/** Rank (1-based) of the answer among the first distinct documents, 0 when absent. */
function rankOf(documents: string[], answer: string): number {
  return documents.indexOf(answer) + 1;
}

export type ManualScores = {
  method: Method;
  recall1: Record<ManualQuestion['wording'], number>;
  recall5: Record<ManualQuestion['wording'], number>;
  mrr: number;
  /** Answerable questions whose reply would cite nothing. */
  citedNothing: number;
  /** Near-but-wrong questions whose reply would cite something. */
  nearMissesCited: number;
  latenciesMs: number[];
};

async function score(method: Method, ranked: Ranked, questions: ManualQuestion[]): Promise<ManualScores> {
  const hits = { worded: { at1: 0, at5: 0, count: 0 }, paraphrased: { at1: 0, at5: 0, count: 0 } };
  let reciprocal = 0;
  let citedNothing = 0;
  const latenciesMs: number[] = [];
  for (const { question, answer, wording } of questions) {
    const started = performance.now();
    const documents = await ranked(question);
    latenciesMs.push(performance.now() - started);
    const rank = rankOf(documents, answer);
    const half = hits[wording];
    half.count++;
    if (rank === 1) half.at1++;
    if (rank >= 1 && rank <= 5) half.at5++;
    if (rank > 0) reciprocal += 1 / rank;
    if (documents.length === 0) citedNothing++;
  }
  let nearMissesCited = 0;
  for (const question of NEAR_MISSES) if ((await ranked(question)).length > 0) nearMissesCited++;
  const share = (n: number, of: number) => (of === 0 ? NaN : n / of);
  return {
    method,
    recall1: { worded: share(hits.worded.at1, hits.worded.count), paraphrased: share(hits.paraphrased.at1, hits.paraphrased.count) },
    recall5: { worded: share(hits.worded.at5, hits.worded.count), paraphrased: share(hits.paraphrased.at5, hits.paraphrased.count) },
    mrr: share(reciprocal, questions.length),
    citedNothing,
    nearMissesCited,
    latenciesMs,
  };
}

/**
 * Uploads the corpus into a new organization of `db` and scores every method.
 * `embedModel` is one the double serves (hybrid); lexical alone asks for one it does not.
 */
export async function evaluateManuals(db: Database, double: OllamaDouble, embedModel: string, log: (line: string) => void): Promise<ManualScores[]> {
  const { documents, missing } = loadManuals(ROOT);
  if (missing.length > 0) log(`manuals: not on this machine, left out with their questions: ${missing.join(', ')}`);
  const present = new Set(documents.map((document) => document.id));
  const questions = MANUAL_QUESTIONS.filter((question) => present.has(question.answer));

  const servicesWith = (model: string) =>
    createServices({ prisma: db.prisma, llm: createLlm({ host: double.url }), config: loadConfig({ OLLAMA_HOST: double.url, OLLAMA_EMBED_MODEL: model }) });
  const hybridServices = servicesWith(embedModel);
  const lexicalServices = servicesWith('absent-embedder');
  const org = await hybridServices.organizations.create({ name: 'Manuals bench' });
  const viewer: Viewer = { kind: 'apiKey', organizationId: org.organizationId, rateLimitPerHour: 1_000_000 };

  const started = performance.now();
  const documentOf = new Map<string, string>();
  for (const document of documents) {
    const file = new File([document.text], `${document.id.replace(/[^a-z0-9.-]+/gi, '_')}.${document.fileType}`);
    const { source } = await hybridServices.knowledge.addFile(viewer, { title: document.title, fileType: document.fileType, file });
    documentOf.set(source.id, document.id);
  }
  await drainJobs(hybridServices);
  await hybridServices.knowledge.upkeepSettled();
  const passages = await db.prisma.knowledgeChunk.count({ where: { organizationId: org.organizationId } });
  log(`manuals: ${documents.length} documents, ${passages} passages ingested in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const viaReply = (services: Services): Ranked => async (question) => {
    const { references } = await services.knowledge.retrieve({ organizationId: org.organizationId, assistantId: ASSISTANT, question, limit: REPLY_PASSAGES });
    return [...new Set(references.map((reference) => documentOf.get(reference.sourceId)!))];
  };
  const baseline = naiveBm25(documents);
  return [
    await score('lexical', viaReply(lexicalServices), questions),
    await score('hybrid', viaReply(hybridServices), questions),
    await score('naive-bm25', async (question) => baseline.search(question), questions),
  ];
}

/** The scores as benchmark figures, with the targets of the knowledge-base issue on lexical retrieval. */
export function addManualFigures(figures: FigureSet, prefix: string, scores: ManualScores[]) {
  for (const s of scores) {
    const lexical = s.method === 'lexical';
    const key = `${prefix}.manuals.${s.method}`;
    const name = `${prefix}: manuals, ${s.method}`;
    figures.add(`${key}.recall5.worded`, `${name} recall@5 worded`, '', s.recall5.worded, lexical ? { op: '>=', value: 0.95 } : undefined);
    figures.add(`${key}.recall5.paraphrased`, `${name} recall@5 paraphrased`, '', s.recall5.paraphrased, lexical ? { op: '>=', value: 0.6 } : undefined);
    figures.add(`${key}.recall1.worded`, `${name} recall@1 worded`, '', s.recall1.worded);
    figures.add(`${key}.recall1.paraphrased`, `${name} recall@1 paraphrased`, '', s.recall1.paraphrased);
    figures.add(`${key}.mrr`, `${name} MRR`, '', s.mrr);
    figures.add(`${key}.cited-nothing`, `${name} answerable questions citing nothing`, '', s.citedNothing, lexical ? { op: '<=', value: 0 } : undefined);
    figures.add(`${key}.near-misses-cited`, `${name} near-but-wrong questions citing something (of ${NEAR_MISSES.length})`, '', s.nearMissesCited);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { openDatabase } = await import('../src/db/database.ts');
  const { startOllamaDouble } = await import('../test/utils/ollama-double.ts');
  const { percentile } = await import('./lib/stats.ts');
  const double = await startOllamaDouble({ models: ['llama3.2', 'nomic-embed-text'] });
  const db = await openDatabase({});
  try {
    const scores = await evaluateManuals(db, double, 'nomic-embed-text', (line) => console.log(line));
    const round = (n: number) => n.toFixed(3);
    console.log('method       r@5 worded  r@5 para  r@1 worded  r@1 para  MRR    cited nothing  near misses cited  p50 ms  p95 ms');
    for (const s of scores) {
      console.log(
        [s.method.padEnd(12), round(s.recall5.worded).padStart(10), round(s.recall5.paraphrased).padStart(9), round(s.recall1.worded).padStart(11),
          round(s.recall1.paraphrased).padStart(9), round(s.mrr).padStart(6), String(s.citedNothing).padStart(14), String(s.nearMissesCited).padStart(18),
          percentile(s.latenciesMs, 50).toFixed(1).padStart(7), percentile(s.latenciesMs, 95).toFixed(1).padStart(7)].join(' '),
      );
    }
  } finally {
    await db.close();
    await double.close();
  }
}
