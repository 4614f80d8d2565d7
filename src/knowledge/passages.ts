// Stores a source's passages and finds the passages that answer a question.
// Lexical retrieval is PostgreSQL full-text search (a GIN index on a tsvector
// written with each passage), so it runs the same on PGlite and PostgreSQL.
import { randomUUID } from 'node:crypto';
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';
import type { Passage } from './chunk.ts';
import { createBatchSizer, giveWay } from './pacing.ts';

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
 * The condition on a passage (aliased `c`) of a source (`s`) that searches see:
 * it belongs to the version of the source's passages being served. A new version
 * is written beside the old one, invisible until the source names it (see
 * stagePassages and publishPassages).
 */
export const servedVersion: Prisma.Sql = Prisma.sql`c.version = s."passageVersion"`;

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

/** What runs first in each writing transaction; throwing stores nothing (the job that computed them was taken over). */
export type BeforeWrite = (tx: Prisma.TransactionClient) => Promise<void>;

/**
 * Writes passages of a new version of the source's passages (`first` is the
 * ordinal of the first), invisible to searches
 * until publishPassages names the version. Each passage is written once, search
 * terms and vector included: PGlite runs no autovacuum, so every rewrite would
 * leave a dead row behind. Each call is one short transaction: an embedded
 * database answers nothing else meanwhile (5,000 passages in one statement held
 * it for half a minute; a passage costs 1-4 ms here, more with 768-dimension
 * embeddings), so callers write a few at a time (createBatchSizer).
 */
export async function stagePassages(
  prisma: PrismaClient,
  source: { id: string; organizationId: string },
  { version, first, passages, embeddings, vectorColumn, beforeWrite }: {
    version: string;
    first: number;
    passages: Passage[];
    embeddings: number[][] | null;
    vectorColumn: boolean;
    beforeWrite?: BeforeWrite;
  },
): Promise<void> {
  if (passages.length === 0) return;
  const vectors = passages.map((_, i) => floatArray(embeddings?.[i] ?? []));
  await prisma.$transaction(async (tx) => {
    // The source before the job (beforeWrite), the order in which deleting a source takes them;
    // a key-share lock, as the passages' foreign key takes, so that batches do not wait on each other.
    await tx.$queryRaw`SELECT 1 FROM "KnowledgeSource" WHERE id = ${source.id}::uuid FOR KEY SHARE`;
    await beforeWrite?.(tx);
    await tx.$executeRaw`
      INSERT INTO "KnowledgeChunk" (id, "organizationId", "sourceId", version, ordinal, heading, content, embedding, search
                                    ${vectorColumn ? Prisma.sql`, "embeddingVec"` : Prisma.empty})
      SELECT gen_random_uuid(), ${source.organizationId}::uuid, ${source.id}::uuid, ${version}::uuid, ${first} + p.ordinal - 1,
             p.heading, p.content, p.vector::float8[],
             -- Headings weigh more than body text: a passage under "Business hours" is about hours.
             setweight(to_tsvector(${TS_CONFIG}::regconfig, p.heading), 'A') || to_tsvector(${TS_CONFIG}::regconfig, p.content)
             ${vectorColumn ? Prisma.sql`, CASE WHEN p.vector = '{}' THEN NULL ELSE p.vector::float8[]::vector END` : Prisma.empty}
      FROM unnest(${passages.map((p) => p.heading)}::text[], ${passages.map((p) => p.content)}::text[], ${vectors}::text[])
           WITH ORDINALITY AS p(heading, content, vector, ordinal)`;
  });
}

/**
 * Makes a staged version the source's passages, in one short transaction, and
 * returns the version it replaced (now invisible; dropPassages deletes it).
 * `embeddingModel` is the model that embedded every passage of the version, or
 * null: the source never claims a model for passages it did not embed.
 */
export async function publishPassages(
  prisma: PrismaClient,
  source: { id: string },
  {
    version,
    embeddingModel,
    beforeWrite,
    data = {},
  }: {
    version: string;
    embeddingModel: string | null;
    beforeWrite?: BeforeWrite;
    /** Other fields of the source to update with it (its status, its passage count). */
    data?: Prisma.KnowledgeSourceUpdateInput;
  },
): Promise<string> {
  return prisma.$transaction(async (tx) => {
    await lockSource(tx, source.id);
    await beforeWrite?.(tx);
    const [current] = await tx.$queryRaw<{ version: string }[]>`SELECT "passageVersion"::text AS version FROM "KnowledgeSource" WHERE id = ${source.id}::uuid`;
    await tx.knowledgeSource.update({ where: { id: source.id }, data: { ...data, passageVersion: version, embeddingModel } });
    return current.version;
  });
}

/** Passages deleted per statement (a deletion only marks rows, cheaply). */
const DELETE_BATCH = 500;
/**
 * A staged version none of whose passages was written for this long belongs to
 * a run that died (a live one writes a batch every few seconds, and loses its
 * job after two silent minutes).
 */
const ABANDONED_AFTER = '10 minutes';

/**
 * Deletes, in short statements, the passages of the source's given versions and
 * those of versions abandoned by runs that died mid-way (never the served one);
 * returns how many.
 */
export async function dropPassages(prisma: PrismaClient, sourceId: string, versions: string[]): Promise<number> {
  let deleted = 0;
  for (;;) {
    const started = performance.now();
    const count = await prisma.$executeRaw`
      DELETE FROM "KnowledgeChunk" WHERE id IN (
        SELECT c.id FROM "KnowledgeChunk" c JOIN "KnowledgeSource" s ON s.id = c."sourceId"
        WHERE c."sourceId" = ${sourceId}::uuid AND NOT ${servedVersion}
          AND (c.version = ANY (${versions}::uuid[])
               OR c.version IN (SELECT version FROM "KnowledgeChunk" WHERE "sourceId" = ${sourceId}::uuid
                                GROUP BY version HAVING max("createdAt") < now() - ${ABANDONED_AFTER}::interval))
        LIMIT ${DELETE_BATCH})`;
    deleted += count;
    if (count < DELETE_BATCH) return deleted;
    await giveWay(performance.now() - started);
  }
}

/**
 * Stores a source's passages in place of the old ones, with their embeddings when
 * there are any: staged in batches, then published, then the old ones dropped.
 * Returns how many passages were written and deleted.
 */
export async function replacePassages(
  prisma: PrismaClient,
  source: { id: string; organizationId: string },
  passages: Passage[],
  embeddings: number[][] | null,
  { vectorColumn, embeddingModel, beforeWrite }: { vectorColumn: boolean; embeddingModel: string | null; beforeWrite?: BeforeWrite },
): Promise<{ written: number; deleted: number }> {
  const version = randomUUID();
  const sizer = createBatchSizer();
  for (let first = 0, size = sizer.size; first < passages.length; first += size, size = sizer.size) {
    const started = performance.now();
    const batch = passages.slice(first, first + size);
    await stagePassages(prisma, source, { version, first, passages: batch, embeddings: embeddings?.slice(first, first + size) ?? null, vectorColumn, beforeWrite });
    await sizer.done(batch.length, performance.now() - started);
  }
  const old = await publishPassages(prisma, source, { version, embeddingModel: embeddings ? embeddingModel : null, beforeWrite });
  return { written: passages.length, deleted: await dropPassages(prisma, source.id, [old]) };
}

/**
 * Stores embeddings for some of a source's passages as they are (embedded later
 * than they were indexed). Returns false, storing nothing, when the source no
 * longer serves `version` (it was indexed again): the embeddings belong to
 * passages on their way out. The caller records the model once all are stored.
 */
export async function storeEmbeddings(
  prisma: PrismaClient,
  source: { id: string },
  passages: { id: string; embedding: number[] }[],
  { version, vectorColumn }: { version: string; vectorColumn: boolean },
): Promise<boolean> {
  return prisma.$transaction(async (tx) => {
    await lockSource(tx, source.id);
    const [served] = await tx.$queryRaw<{ version: string }[]>`SELECT "passageVersion"::text AS version FROM "KnowledgeSource" WHERE id = ${source.id}::uuid`;
    if (served?.version !== version) return false;
    const vectors = passages.map((passage) => floatArray(passage.embedding));
    await tx.$executeRaw`
      UPDATE "KnowledgeChunk" c
      SET embedding = p.vector::float8[] ${vectorColumn ? Prisma.sql`, "embeddingVec" = p.vector::float8[]::vector` : Prisma.empty}
      FROM unnest(${passages.map((passage) => passage.id)}::uuid[], ${vectors}::text[]) AS p(id, vector)
      WHERE c.id = p.id AND c.version = ${version}::uuid`;
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
        AND ${servedVersion}
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
