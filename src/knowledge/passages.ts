// Stores a source's passages and finds the passages that answer a question.
// Lexical retrieval is PostgreSQL full-text search (a GIN index on a tsvector
// written with each passage), so it runs the same on PGlite and PostgreSQL.
import type { PrismaClient } from '../../generated/prisma/client.ts';
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

/** Stores a source's passages in place of the old ones, with their embeddings when there are any. */
export async function replacePassages(
  prisma: PrismaClient,
  source: { id: string; organizationId: string },
  passages: Passage[],
  embeddings: number[][] | null,
): Promise<number> {
  await prisma.$transaction(async (tx) => {
    // Two ingestions of one source (a job taken over from a stalled instance) take turns,
    // so the second replaces the first's passages instead of adding to them.
    await tx.$queryRaw`SELECT 1 FROM "KnowledgeSource" WHERE id = ${source.id}::uuid FOR UPDATE`;
    await tx.knowledgeChunk.deleteMany({ where: { sourceId: source.id } });
    if (passages.length === 0) return;
    await tx.knowledgeChunk.createMany({
      data: passages.map((passage, ordinal) => ({
        organizationId: source.organizationId,
        sourceId: source.id,
        ordinal,
        heading: passage.heading,
        content: passage.content,
        embedding: embeddings?.[ordinal] ?? [],
      })),
    });
    // Headings weigh more than body text: a passage under "Business hours" is about hours.
    await tx.$executeRaw`
      UPDATE "KnowledgeChunk"
      SET search = setweight(to_tsvector(${TS_CONFIG}::regconfig, heading), 'A') || to_tsvector(${TS_CONFIG}::regconfig, content)
      WHERE "sourceId" = ${source.id}::uuid`;
  });
  return passages.length;
}

/**
 * Passages sharing terms with the question, in one round trip: the question's
 * terms as the index stores them (stemmed, stop words dropped), any of which
 * may match (a question rarely shares every word with its answer); candidates
 * ranked by cover density; then the share of the question's terms each
 * passage contains (coverage), which says how much of the question it speaks to.
 */
export async function searchPassages(
  prisma: PrismaClient,
  { organizationId, assistantId, question, limit }: { organizationId: string; assistantId: string | null; question: string; limit: number },
): Promise<Hit[]> {
  const rows = await prisma.$queryRaw<Array<Omit<Hit, 'coverage'> & { matched: number; total: number }>>`
    WITH terms AS (
      SELECT array_agg(DISTINCT lexeme) AS list
      FROM unnest(to_tsvector(${TS_CONFIG}::regconfig, ${question})) AS t(lexeme)
    ), q AS (
      SELECT list, array_to_string(ARRAY(SELECT quote_literal(l) FROM unnest(list) AS l), ' | ')::tsquery AS query
      FROM terms WHERE list IS NOT NULL
    ), candidates AS (
      SELECT c.id, c."sourceId", c.heading, c.content, c.search, s.kind, s.title, s.url,
             ts_rank_cd(c.search, q.query, 1) AS rank
      FROM "KnowledgeChunk" c
      JOIN "KnowledgeSource" s ON s.id = c."sourceId"
      CROSS JOIN q
      WHERE c."organizationId" = ${organizationId}::uuid
        AND c.search @@ q.query
        -- Indexed at least once: a page being synced again keeps answering from its last version.
        AND s."chunkCount" > 0
        AND (cardinality(s."assistantIds") = 0 OR ${assistantId}::uuid = ANY (s."assistantIds"))
      ORDER BY rank DESC
      LIMIT ${limit * 4}
    )
    SELECT c.id AS "chunkId", c."sourceId", c.kind, c.title, c.url, c.heading, c.content, c.rank::float8 AS rank,
           (SELECT count(*) FROM unnest(tsvector_to_array(c.search)) AS l WHERE l = ANY (q.list))::int AS matched,
           cardinality(q.list) AS total
    FROM candidates c CROSS JOIN q`;
  return rows
    .map(({ matched, total, ...row }) => ({ ...row, coverage: matched / total }))
    .sort((a, b) => b.coverage - a.coverage || b.rank - a.rank)
    .slice(0, limit);
}

/** Whether the organization has anything an assistant could answer from. */
export async function hasReadyKnowledge(prisma: PrismaClient, organizationId: string, assistantId: string | null): Promise<boolean> {
  const rows = await prisma.$queryRaw<{ found: boolean }[]>`
    SELECT EXISTS (
      SELECT 1 FROM "KnowledgeSource" s
      WHERE s."organizationId" = ${organizationId}::uuid AND s."chunkCount" > 0
        AND (cardinality(s."assistantIds") = 0 OR ${assistantId}::uuid = ANY (s."assistantIds"))
    ) AS found`;
  return rows[0]?.found ?? false;
}
