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

export type Hit = {
  chunkId: string;
  sourceId: string;
  kind: 'file' | 'qa' | 'url';
  title: string;
  url: string | null;
  heading: string;
  content: string;
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

/** The question's search terms as the index stores them (stemmed, stop words dropped). */
async function questionTerms(prisma: PrismaClient, question: string): Promise<string[]> {
  const rows = await prisma.$queryRaw<{ lexeme: string }[]>`
    SELECT DISTINCT lexeme FROM unnest(to_tsvector(${TS_CONFIG}::regconfig, ${question})) AS t(lexeme)`;
  return rows.map((row) => row.lexeme).slice(0, 32);
}

export async function searchPassages(
  prisma: PrismaClient,
  { organizationId, assistantId, question, limit }: { organizationId: string; assistantId: string | null; question: string; limit: number },
): Promise<Hit[]> {
  const terms = await questionTerms(prisma, question);
  if (terms.length === 0) return [];
  // Any term may match (a question rarely shares every word with its answer);
  // coverage then says how much of the question a passage speaks to.
  const query = terms.map((term) => `'${term.replace(/'/g, "''").replace(/\\/g, '\\\\')}'`).join(' | ');
  const rows = await prisma.$queryRaw<Array<Omit<Hit, 'coverage'> & { matched: number }>>`
    SELECT c.id AS "chunkId", c."sourceId", s.kind, s.title, s.url, c.heading, c.content,
           ts_rank_cd(c.search, q, 1)::float8 AS rank,
           (SELECT count(*) FROM unnest(${terms}::text[]) AS t(term) WHERE c.search @@ quote_literal(t.term)::tsquery)::int AS matched
    FROM "KnowledgeChunk" c
    JOIN "KnowledgeSource" s ON s.id = c."sourceId",
         to_tsquery(${TS_CONFIG}::regconfig, ${query}) AS q
    WHERE c."organizationId" = ${organizationId}::uuid
      AND s.status = 'ready'
      AND (cardinality(s."assistantIds") = 0 OR ${assistantId}::uuid = ANY (s."assistantIds"))
      AND c.search @@ q
    ORDER BY rank DESC
    LIMIT ${limit * 4}`;
  return rows
    .map(({ matched, ...row }) => ({ ...row, coverage: matched / terms.length }))
    .sort((a, b) => b.coverage - a.coverage || b.rank - a.rank)
    .slice(0, limit);
}

/** Whether the organization has anything an assistant could answer from. */
export async function hasReadyKnowledge(prisma: PrismaClient, organizationId: string, assistantId: string | null): Promise<boolean> {
  const rows = await prisma.$queryRaw<{ found: boolean }[]>`
    SELECT EXISTS (
      SELECT 1 FROM "KnowledgeSource" s
      WHERE s."organizationId" = ${organizationId}::uuid AND s.status = 'ready' AND s."chunkCount" > 0
        AND (cardinality(s."assistantIds") = 0 OR ${assistantId}::uuid = ANY (s."assistantIds"))
    ) AS found`;
  return rows[0]?.found ?? false;
}
