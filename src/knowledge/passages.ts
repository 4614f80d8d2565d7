// Stores a source's passages and finds the passages that answer a question.
// Lexical retrieval is PostgreSQL full-text search (a GIN index on a tsvector
// written with each passage), so it runs the same on PGlite and PostgreSQL.
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';
import type { Passage } from './chunk.ts';

/**
 * The text-search configuration. English stemming finds "hours" for "hour";
 * for other languages it degrades to matching words as they are.
 */
const TS_CONFIG = 'english';

/** A stored passage with what a citation needs of its source. */
export type PassageRow = {
  chunkId: string;
  sourceId: string;
  kind: 'file' | 'qa' | 'url';
  title: string;
  url: string | null;
  heading: string;
  content: string;
};

export type Hit = PassageRow & {
  /** Share of the question's terms found in the passage, 0 to 1. */
  coverage: number;
  /** PostgreSQL's cover-density rank. */
  rank: number;
};

/**
 * The condition on a source (aliased `s`) that an assistant answers from: one
 * indexed at least once (a page being synced again keeps answering from its
 * last version) that serves the whole organization or this assistant. Every
 * search uses it, so that scoping has one rule.
 */
export function answersFrom(assistantId: string | null): Prisma.Sql {
  return Prisma.sql`s."chunkCount" > 0 AND (cardinality(s."assistantIds") = 0 OR ${assistantId}::uuid = ANY (s."assistantIds"))`;
}

/**
 * Whatever writes a source's passages (two ingestions, say a sync asked while one
 * runs; an ingestion and a late embedding) takes turns on the source's row, so
 * that the second sees the first's passages instead of writing beside them.
 */
async function lockSource(tx: Prisma.TransactionClient, sourceId: string) {
  await tx.$queryRaw`SELECT 1 FROM "KnowledgeSource" WHERE id = ${sourceId}::uuid FOR UPDATE`;
}

/** An embedding as a PostgreSQL array literal (`{}` for none), for bulk writes through unnest. */
function floatArray(embedding: number[]): string {
  return `{${embedding.join(',')}}`;
}

/**
 * Stores a source's passages in place of the old ones, with their embeddings when
 * there are any. Each passage is written once, search terms and vector included:
 * PGlite runs no autovacuum, so every rewrite would leave a dead row behind.
 */
export async function replacePassages(
  prisma: PrismaClient,
  source: { id: string; organizationId: string },
  passages: Passage[],
  embeddings: number[][] | null,
  {
    vectorColumn,
    embeddingModel,
    beforeWrite,
  }: {
    vectorColumn: boolean;
    embeddingModel: string | null;
    /** Runs first in the transaction; throwing stores nothing (the job that computed them was taken over). */
    beforeWrite?: (tx: Prisma.TransactionClient) => Promise<void>;
  },
): Promise<number> {
  const vectors = passages.map((_, i) => floatArray(embeddings?.[i] ?? []));
  await prisma.$transaction(async (tx) => {
    // The source's row first, then the job's (beforeWrite): the order in which deleting a source takes them.
    await lockSource(tx, source.id);
    await beforeWrite?.(tx);
    await tx.knowledgeChunk.deleteMany({ where: { sourceId: source.id } });
    // With the passages, so that the source never claims a model for passages it did not embed.
    await tx.knowledgeSource.update({ where: { id: source.id }, data: { embeddingModel: embeddings ? embeddingModel : null } });
    if (passages.length === 0) return;
    await tx.$executeRaw`
      INSERT INTO "KnowledgeChunk" (id, "organizationId", "sourceId", ordinal, heading, content, embedding, search
                                    ${vectorColumn ? Prisma.sql`, "embeddingVec"` : Prisma.empty})
      SELECT gen_random_uuid(), ${source.organizationId}::uuid, ${source.id}::uuid, p.ordinal - 1, p.heading, p.content, p.vector::float8[],
             -- Headings weigh more than body text: a passage under "Business hours" is about hours.
             setweight(to_tsvector(${TS_CONFIG}::regconfig, p.heading), 'A') || to_tsvector(${TS_CONFIG}::regconfig, p.content)
             ${vectorColumn ? Prisma.sql`, CASE WHEN p.vector = '{}' THEN NULL ELSE p.vector::float8[]::vector END` : Prisma.empty}
      FROM unnest(${passages.map((p) => p.heading)}::text[], ${passages.map((p) => p.content)}::text[], ${vectors}::text[])
           WITH ORDINALITY AS p(heading, content, vector, ordinal)`;
  });
  return passages.length;
}

/**
 * Stores embeddings for a source's passages as they are (embedded later than
 * they were indexed), and records the model that made them. Returns false,
 * storing nothing, when the passages changed meanwhile (the source was indexed
 * again): the embeddings belong to the old ones.
 */
export async function storeEmbeddings(
  prisma: PrismaClient,
  source: { id: string },
  passages: { id: string; embedding: number[] }[],
  { model, vectorColumn }: { model: string; vectorColumn: boolean },
): Promise<boolean> {
  return prisma.$transaction(async (tx) => {
    await lockSource(tx, source.id);
    const current = await tx.knowledgeChunk.findMany({ where: { sourceId: source.id }, select: { id: true } });
    const ids = new Set(passages.map((passage) => passage.id));
    if (current.length !== ids.size || current.some(({ id }) => !ids.has(id))) return false;
    const vectors = passages.map((passage) => floatArray(passage.embedding));
    await tx.$executeRaw`
      UPDATE "KnowledgeChunk" c
      SET embedding = p.vector::float8[] ${vectorColumn ? Prisma.sql`, "embeddingVec" = p.vector::float8[]::vector` : Prisma.empty}
      FROM unnest(${passages.map((passage) => passage.id)}::uuid[], ${vectors}::text[]) AS p(id, vector)
      WHERE c.id = p.id`;
    await tx.knowledgeSource.update({ where: { id: source.id }, data: { embeddingModel: model } });
    return true;
  });
}

/**
 * Passages a question's candidates are drawn from, at most: the terms that select
 * them are chosen so that about this many passages are expected to hold them.
 */
const CANDIDATE_BUDGET = 1000;
/** Passages ranked at most, whatever the statistics expected (they are estimates). */
const MAX_RANKED = 4 * CANDIDATE_BUDGET;

/**
 * Passages sharing terms with the question, in one round trip.
 *
 * The question's terms are taken as the index stores them (stemmed, stop words
 * dropped), and any of them may match: a question rarely shares every word with
 * its answer. Ranking every passage that holds a common word would cost time in
 * proportion to the whole knowledge base, so candidates come from the question's
 * rarest terms only, as many as keep the expected matches within a budget; the
 * share of passages holding each common term comes from the statistics ANALYZE
 * keeps of the index column (most_common_elems). A small knowledge base, or a
 * question without common words, thus searches with all its terms; when every
 * term is common, candidates must hold all of them. Candidates are ranked by
 * cover density against all the terms, then by the share of the question's terms
 * each passage contains (coverage), which says how much of the question it speaks to.
 */
export async function searchPassages(
  prisma: PrismaClient,
  { organizationId, assistantId, question, limit }: { organizationId: string; assistantId: string | null; question: string; limit: number },
): Promise<Hit[]> {
  const rows = await prisma.$queryRaw<Array<Omit<Hit, 'coverage'> & { matched: number; total: number }>>`
    WITH terms AS (
      SELECT DISTINCT lexeme FROM unnest(to_tsvector(${TS_CONFIG}::regconfig, ${question})) AS t(lexeme)
    ), frequency AS (
      -- Share of all passages holding each common lexeme; one the statistics do not list is rarer than those they do.
      SELECT e.lexeme, e.share
      FROM pg_stats s
      CROSS JOIN LATERAL unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS e(lexeme, share)
      WHERE s.schemaname = current_schema() AND s.tablename = 'KnowledgeChunk' AND s.attname = 'search'
    ), expected AS (
      -- Passages of this organization expected to hold the term or a rarer one.
      SELECT t.lexeme,
             o.passages * sum(coalesce(f.share, 0)) OVER (ORDER BY coalesce(f.share, 0), t.lexeme) AS with_rarer
      FROM terms t
      LEFT JOIN frequency f USING (lexeme)
      CROSS JOIN (SELECT coalesce(sum("chunkCount"), 0) AS passages FROM "KnowledgeSource" WHERE "organizationId" = ${organizationId}::uuid) o
    ), q AS (
      SELECT array_agg(lexeme) AS list,
             array_to_string(array_agg(quote_literal(lexeme)), ' | ')::tsquery AS query,
             (CASE WHEN min(with_rarer) <= ${CANDIDATE_BUDGET}
                THEN array_to_string(array_agg(quote_literal(lexeme)) FILTER (WHERE with_rarer <= ${CANDIDATE_BUDGET}), ' | ')
                ELSE array_to_string(array_agg(quote_literal(lexeme)), ' & ')
              END)::tsquery AS selective
      FROM expected
      HAVING count(*) > 0
    ), candidates AS (
      SELECT c.id, c."sourceId", c.heading, c.content, c.search, s.kind, s.title, s.url
      FROM "KnowledgeChunk" c
      JOIN "KnowledgeSource" s ON s.id = c."sourceId"
      CROSS JOIN q
      WHERE c."organizationId" = ${organizationId}::uuid
        AND c.search @@ q.selective
        AND ${answersFrom(assistantId)}
      LIMIT ${MAX_RANKED}
    ), ranked AS (
      SELECT c.*, ts_rank_cd(c.search, q.query, 1) AS rank
      FROM candidates c CROSS JOIN q
      ORDER BY rank DESC
      LIMIT ${limit * 4}
    )
    SELECT c.id AS "chunkId", c."sourceId", c.kind, c.title, c.url, c.heading, c.content, c.rank::float8 AS rank,
           (SELECT count(*) FROM unnest(tsvector_to_array(c.search)) AS l WHERE l = ANY (q.list))::int AS matched,
           cardinality(q.list) AS total
    FROM ranked c CROSS JOIN q`;
  return rows
    .map(({ matched, total, ...row }) => ({ ...row, coverage: matched / total }))
    .sort((a, b) => b.coverage - a.coverage || b.rank - a.rank)
    .slice(0, limit);
}

/**
 * Does for the passage table what autovacuum would, where none runs (PGlite
 * never has one; a PostgreSQL may have it turned off). ANALYZE when there are no
 * statistics yet or the passages written and deleted since the last one exceed a
 * tenth of the table (autovacuum's rule): without statistics the planner scans
 * every passage instead of using the indexes, and lexical search cannot tell
 * common terms from rare ones. Without VACUUM, deleted and re-synced passages
 * stay on disk for good and linger in the indexes; it comes in two sizes:
 * - deleted passages over a fifth of the table (autovacuum's rule): VACUUM
 *   without its index pass, which frees their space in the table, cheaply;
 * - deleted passages since the last index clean-up over the whole table: the
 *   HNSW indexes are rebuilt, then a full VACUUM clears the other indexes.
 *   pgvector's own vacuum repairs the graph around every deleted passage, which
 *   is slower than building it anew (2,000 passages of 768 dimensions on PGlite,
 *   a quarter deleted: 10.2 s against 2.8 s for rebuild and VACUUM), and PGlite
 *   answers nothing else meanwhile; waiting for a table's worth of deletions
 *   keeps that cost in proportion to the deleting that caused it.
 * The counts are kept in memory: pg_class.reltuples cannot serve, since
 * building an index updates it without collecting statistics, and PGlite keeps
 * no activity counters. Upkeep runs in the background, one run at a time, so
 * that a deletion answers at once and cannot fail because of it.
 */
export function createPassageUpkeep(prisma: PrismaClient) {
  let changedSinceAnalyze = 0;
  let deletedSinceVacuum = 0;
  let deletedSinceIndexCleanup = 0;
  let autovacuum: Promise<boolean> | undefined;
  const autovacuumRuns = () =>
    (autovacuum ??= prisma
      .$queryRaw<{ runs: boolean }[]>`SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'autovacuum launcher') AS runs`
      .then(([row]) => row.runs));

  async function rebuildVectorIndexes() {
    const indexes = await prisma.$queryRaw<{ name: string; valid: boolean }[]>`
      SELECT c.relname AS name, i.indisvalid AS valid
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
      WHERE i.indrelid = '"KnowledgeChunk"'::regclass AND a.amname = 'hnsw'`;
    for (const { name, valid } of indexes) {
      const quoted = `"${name.replaceAll('"', '""')}"`;
      // CONCURRENTLY: on PostgreSQL, searches and writes go on meanwhile (PGlite has no one else
      // to wait for). One cut short leaves an invalid copy behind, which only costs writes: dropped.
      await prisma.$executeRawUnsafe(valid ? `REINDEX INDEX CONCURRENTLY ${quoted}` : `DROP INDEX CONCURRENTLY IF EXISTS ${quoted}`);
    }
  }

  async function upkeep() {
    const [{ analyzed, total }] = await prisma.$queryRaw<{ analyzed: boolean; total: number }[]>`
      SELECT EXISTS (
               SELECT 1 FROM pg_stats
               WHERE schemaname = current_schema() AND tablename = 'KnowledgeChunk' AND attname = 'search'
             ) AS analyzed,
             greatest(reltuples, 0)::float8 AS total
      FROM pg_class WHERE oid = '"KnowledgeChunk"'::regclass`;
    const vacuum = deletedSinceVacuum > 50 + 0.2 * total && !(await autovacuumRuns());
    if (vacuum && deletedSinceIndexCleanup > 50 + total) {
      deletedSinceIndexCleanup = deletedSinceVacuum = changedSinceAnalyze = 0;
      await rebuildVectorIndexes();
      await prisma.$executeRawUnsafe('VACUUM (ANALYZE) "KnowledgeChunk", "KnowledgeSource"');
    } else if (vacuum) {
      deletedSinceVacuum = changedSinceAnalyze = 0;
      await prisma.$executeRawUnsafe('VACUUM (INDEX_CLEANUP OFF, ANALYZE) "KnowledgeChunk", "KnowledgeSource"');
    } else if (!analyzed || changedSinceAnalyze > 50 + 0.1 * total) {
      changedSinceAnalyze = 0;
      await prisma.$executeRawUnsafe('ANALYZE "KnowledgeChunk", "KnowledgeSource"');
    }
  }

  let running: Promise<void> | null = null;
  let again = false;

  return {
    /** Counts passages written and deleted, and starts upkeep in the background when it is due. */
    passagesChanged({ written, deleted }: { written: number; deleted: number }): void {
      changedSinceAnalyze += written + deleted;
      deletedSinceVacuum += deleted;
      deletedSinceIndexCleanup += deleted;
      if (running) {
        again = true;
        return;
      }
      running = (async () => {
        do {
          again = false;
          // A failure (say, a database user who may not VACUUM) costs disk space, not the request.
          await upkeep().catch((error: unknown) => console.error('Knowledge base: passage upkeep failed:', error));
        } while (again);
        // In the same step as the last check of `again`: a change counted after it starts a new run.
        running = null;
      })();
    },

    /** Resolves once no upkeep is running (for shutdown, and for tests that measure its effect). */
    async settled(): Promise<void> {
      while (running) await running;
    },
  };
}

/** Whether the organization has anything an assistant could answer from. */
export async function hasReadyKnowledge(prisma: PrismaClient, organizationId: string, assistantId: string | null): Promise<boolean> {
  const rows = await prisma.$queryRaw<{ found: boolean }[]>`
    SELECT EXISTS (
      SELECT 1 FROM "KnowledgeSource" s
      WHERE s."organizationId" = ${organizationId}::uuid AND ${answersFrom(assistantId)}
    ) AS found`;
  return rows[0]?.found ?? false;
}
