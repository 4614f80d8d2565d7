// Vector search on pgvector (PGlite ships it), below the HTTP layer: what an
// approximate index does to a filtered query is easiest to see with chosen vectors.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { openDatabase, type Database } from '../src/db/database.ts';
import { replacePassages } from '../src/knowledge/passages.ts';
import { createVectorIndex, pgvectorFeatures } from '../src/knowledge/vectors.ts';

const DIMS = 16;
const MODEL = 'nomic-embed-text';
let db: Database;
beforeAll(async () => {
  db = await openDatabase({});
}, 60_000);
afterAll(() => db?.close());

/** A vector pointing mostly along `axis`, nudged by `seed`. */
function near(axis: number, seed: number, spread: number): number[] {
  return Array.from({ length: DIMS }, (_, i) => (i === axis ? 1 : spread * Math.sin(seed * 7.3 + i * 1.7)));
}

test('an assistant finds the passages it may use when passages scoped to another assistant are nearer', async () => {
  const vectors = createVectorIndex(db.prisma);
  expect(await vectors.hasPgvector()).toBe(true);
  const org = await db.prisma.organization.create({ data: { name: 'Acme', clientId: 'client-acme', rateLimitPerHour: 1000 } });
  const [sales, support] = await Promise.all(
    ['Sales', 'Support'].map((name) => db.prisma.assistant.create({ data: { organizationId: org.id, name } })),
  );
  const store = async (title: string, assistantIds: string[], embeddings: number[][]) => {
    const source = await db.prisma.knowledgeSource.create({
      data: { organizationId: org.id, kind: 'qa', title, status: 'ready', chunkCount: embeddings.length, assistantIds, embeddingModel: MODEL },
    });
    const passages = embeddings.map((_, i) => ({ heading: '', content: `${title} ${i}` }));
    await replacePassages(db.prisma, source, passages, embeddings, { vectorColumn: true, embeddingModel: MODEL });
  };
  // The sales playbook, for the sales assistant only, sits right next to the question...
  await store('playbook', [sales.id], Array.from({ length: 3000 }, (_, i) => near(0, i, 0.05)));
  // ...the handbook, for everyone, holds the support assistant's best answers, further away.
  await store('handbook', [], [near(0, 1, 0.5), near(0, 2, 1), near(3, 3, 0.1)]);
  await vectors.ensureIndex(DIMS);
  await db.prisma.$executeRawUnsafe('ANALYZE "KnowledgeChunk", "KnowledgeSource"');

  const hits = await vectors.search({ organizationId: org.id, assistantId: support.id, model: MODEL, embedding: near(0, 0, 0), limit: 5 });
  expect(hits.map((hit) => hit.content)).toEqual(['handbook 0', 'handbook 1', 'handbook 2']);
  expect(hits[0].similarity).toBeGreaterThan(hits[1].similarity);
  // The sales assistant still gets its playbook first.
  const salesHits = await vectors.search({ organizationId: org.id, assistantId: sales.id, model: MODEL, embedding: near(0, 0, 0), limit: 5 });
  expect(salesHits.map((hit) => hit.content.split(' ')[0])).toEqual(Array(5).fill('playbook'));
});

test('pgvector versions without HNSW are scored in process; before 0.8 the scan widens instead of iterating', () => {
  expect(pgvectorFeatures('0.4.4')).toEqual({ hnsw: false, iterativeScan: false });
  expect(pgvectorFeatures('0.7.4')).toEqual({ hnsw: true, iterativeScan: false });
  expect(pgvectorFeatures('0.8.0')).toEqual({ hnsw: true, iterativeScan: true });
  expect(pgvectorFeatures('0.10.1')).toEqual({ hnsw: true, iterativeScan: true });
  expect(pgvectorFeatures('1.0')).toEqual({ hnsw: true, iterativeScan: true });
});
