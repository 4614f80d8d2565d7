// Stores a source's passages and finds the passages that answer a question.
// Lexical retrieval is PostgreSQL full-text search (a GIN index on a tsvector
// written with each passage), so it runs the same on PGlite and PostgreSQL.
import { randomUUID } from 'node:crypto';
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';
import type { Passage } from './chunk.ts';
import { createBatchSizer, giveWay } from './pacing.ts';
import { silentLogger, type Logger } from '../log.ts';
import { synonymsOf } from './synonyms.ts';

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
  /** Share of the question's distinct terms found in the passage, 0 to 1. */
  coverage: number;
  /** The passage's BM25F score. */
  rank: number;
  /**
   * BM25F over the question's total IDF: about the share of the question, weighted
   * by term rarity, that the passage holds; 1 or more when it holds every term.
   */
  score: number;
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
  source: { id: string; organizationId: string; title: string },
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
  await prisma.$transaction(async (tx) => {
    // The source before the job (beforeWrite), the order in which deleting a source takes them;
    // a key-share lock, as the passages' foreign key takes, so that batches do not wait on each other.
    await tx.$queryRaw`SELECT 1 FROM "KnowledgeSource" WHERE id = ${source.id}::uuid FOR KEY SHARE`;
    await beforeWrite?.(tx);
    await insertPassages(tx, [{ source, first, passages, embeddings }], { version, vectorColumn });
  });
}

/** A source's passages to write, with their embeddings if any. */
export type SourcePassages = { source: { id: string; organizationId: string; title: string }; passages: Passage[]; embeddings: number[][] | null };

/** `first` is the ordinal of the first passage. */
type PassageGroup = SourcePassages & { first: number };

/**
 * Writes passages of one version of their sources' passages, search terms and
 * vector included (see stagePassages), in one statement for any number of sources.
 */
async function insertPassages(tx: Prisma.TransactionClient, groups: PassageGroup[], { version, vectorColumn }: { version: string; vectorColumn: boolean }) {
  const rows = groups.flatMap(({ source, first, passages, embeddings }) =>
    passages.map((passage, i) => ({ source, ordinal: first + i, passage, vector: floatArray(embeddings?.[i] ?? []) })),
  );
  if (rows.length === 0) return;
  await tx.$executeRaw`
    INSERT INTO "KnowledgeChunk" (id, "organizationId", "sourceId", version, ordinal, heading, content, embedding, search
                                  ${vectorColumn ? Prisma.sql`, "embeddingVec"` : Prisma.empty})
    SELECT gen_random_uuid(), p.organization_id, p.source_id, ${version}::uuid, p.ordinal,
           p.heading, p.content, p.vector::float8[],
           -- Fields in this order, title first: searchPassages reads each field's term counts from it.
           setweight(to_tsvector(${TS_CONFIG}::regconfig, p.title), 'A')
             || setweight(to_tsvector(${TS_CONFIG}::regconfig, p.heading), 'B')
             || to_tsvector(${TS_CONFIG}::regconfig, p.content)
           ${vectorColumn ? Prisma.sql`, CASE WHEN p.vector = '{}' THEN NULL ELSE p.vector::float8[]::vector END` : Prisma.empty}
    FROM unnest(${rows.map((r) => r.source.organizationId)}::uuid[], ${rows.map((r) => r.source.id)}::uuid[], ${rows.map((r) => r.source.title)}::text[],
                ${rows.map((r) => r.ordinal)}::int[], ${rows.map((r) => r.passage.heading)}::text[], ${rows.map((r) => r.passage.content)}::text[],
                ${rows.map((r) => r.vector)}::text[])
         AS p(organization_id, source_id, title, ordinal, heading, content, vector)`;
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
 * Replaces the passages of sources whose new ones fit in one batch (a Q&A
 * pair, a short page; several Q&A pairs at a time): written and published in
 * one short transaction, then the old ones dropped, if there are any. Staged
 * and published apart, as larger sources are, a source cost two commits and 11
 * statements (BEGIN and COMMIT included), against one and 6 this way, whatever
 * the number of sources. `keep` runs once the sources' rows are locked and
 * says which of them may still be written (those whose jobs this run still
 * holds); the others are left as they are. `data` is written to every source
 * kept, so sources written together share it (Q&A pairs: one passage each).
 * The old passages go after the commit, as in replacePassages: deleted in the
 * same transaction, their terms' counts would be locked in a second pass after
 * the new passages' (each pass in key order, the two together not), and two
 * such transactions on PostgreSQL could each hold a term the other waits for.
 * Returns the ids of the sources written, and how many passages were written and deleted.
 */
export async function replacePassagesAtOnce(
  prisma: PrismaClient,
  sources: SourcePassages[],
  {
    vectorColumn,
    embeddingModel,
    keep,
    data = {},
  }: {
    vectorColumn: boolean;
    embeddingModel: string | null;
    keep: (tx: Prisma.TransactionClient) => Promise<Set<string>>;
    /** Other fields of the sources to update with them, as for publishPassages. */
    data?: Prisma.KnowledgeSourceUpdateManyMutationInput;
  },
): Promise<{ sourceIds: string[]; written: number; deleted: number }> {
  const version = randomUUID();
  const { kept, old } = await prisma.$transaction(async (tx) => {
    // lockSource for each, in key order (two writers then never wait on each other in a circle),
    // reading in the same statement the version each replaces and whether any passage of it is
    // stored, of that version or of a run that died.
    const current = await tx.$queryRaw<{ id: string; version: string; held: boolean }[]>`
      SELECT s.id::text AS id, s."passageVersion"::text AS version,
             EXISTS (SELECT 1 FROM "KnowledgeChunk" c WHERE c."sourceId" = s.id) AS held
      FROM "KnowledgeSource" s WHERE s.id = ANY (${sources.map(({ source }) => source.id)}::uuid[])
      ORDER BY s.id FOR UPDATE`;
    const allowed = await keep(tx);
    const kept = sources.filter(({ source }) => allowed.has(source.id));
    if (kept.length === 0) return { kept, old: [] };
    await insertPassages(tx, kept.map((item) => ({ ...item, first: 0 })), { version, vectorColumn });
    // updateMany: update would read the row back, one more statement for nothing.
    await tx.knowledgeSource.updateMany({ where: { id: { in: kept.map(({ source }) => source.id) } }, data: { ...data, passageVersion: version, embeddingModel } });
    return { kept, old: current.filter((row) => row.held && allowed.has(row.id)) };
  });
  // A source indexed for the first time (every new Q&A pair) has nothing to drop. The new passages
  // are served (and the jobs may be done with them): a drop that fails now does not undo that.
  // The old passages stay unseen, since retrieval reads the served version only, and go with the
  // source's next indexing.
  let deleted = 0;
  for (const row of old) deleted += await dropPassages(prisma, row.id, [row.version]).catch(() => 0);
  return { sourceIds: kept.map(({ source }) => source.id), written: kept.reduce((sum, { passages }) => sum + passages.length, 0), deleted };
}

/**
 * Stores a source's passages in place of the old ones, with their embeddings when
 * there are any: staged in batches, then published, then the old ones dropped.
 * Returns how many passages were written and deleted.
 */
export async function replacePassages(
  prisma: PrismaClient,
  source: { id: string; organizationId: string; title: string },
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
 * them are the question's rarest, as many as hold about this many passages
 * together (exact counts, from KnowledgeTerm).
 */
const CANDIDATE_BUDGET = 1000;

/** BM25's term-frequency saturation and length normalisation, at the values of common practice. */
const BM25 = { k1: 1.2, b: 0.75 };
/**
 * BM25F field weights: one occurrence of a term in the document's title counts as
 * this many in the body, one in a heading as this many. A passage under "Refunds"
 * of a document titled "Returns policy" is about refunds and returns.
 */
const FIELD_WEIGHT = { title: 3, heading: 2 };

/**
 * A synonym (WordNet) of a question's word that no passage of the organization
 * holds weighs this share of a word of the question itself: enough to find
 * "erase" for "delete" where nothing says "delete", too little to outrank the
 * passages that hold the question's own words. Measured on the evaluation
 * corpus: paraphrased recall@5 0.878 -> 0.892 (0.6 did no better); synonyms of
 * every word, held or not, lowered it to 0.865 and doubled p95.
 */
const SYNONYM_WEIGHT = 0.3;

/** A constant of ours written into the SQL as a float literal (a parameter would be typed from its first use). */
const sqlNumber = (value: number) => Prisma.raw(`${Number(value)}::float8`);

/**
 * Ranks the passages that share terms with the question by BM25F, computed in the
 * database from the organization's own term statistics (KnowledgeTerm, kept in the
 * transactions that write passages), so that PGlite, PostgreSQL and every
 * instance rank alike.
 *
 * The question's terms are taken as the index stores them (stemmed, stop words
 * dropped), and any of them may match. Ranking every passage that holds a common
 * word would cost time in proportion to the whole knowledge base, so candidates
 * are the passages holding one of the question's rarest terms, as many terms as
 * keep the candidates within CANDIDATE_BUDGET; when even the rarest term is
 * commoner than that, candidates must hold every term. What this leaves out are
 * passages holding only common terms, which BM25 scores lowest. Every candidate
 * is then ranked, with no cut before ranking.
 *
 * A term's frequency in a passage, per field, is read with ts_rank: for a
 * one-term query and weights of 1 it returns sum(1/i^2, i = 1..tf) / (pi^2/6),
 * which gives tf back exactly; weights of 1 on the title (A) alone, or on title
 * and heading (A, B), give the occurrences in those fields, since the title's
 * positions come first in the vector, then the heading's (see replacePassages).
 *
 * Words of the question that no passage holds (a customer's own words for what
 * the documents call otherwise) are stood in for by their WordNet synonyms, at
 * a lower weight (SYNONYM_WEIGHT).
 *
 * `score` is the passage's BM25F over the question's total IDF (each term found
 * once, in a passage of average length, scores its IDF): the share of what the
 * question asks that the passage holds, weighted by rarity, comparable from one
 * question to the next. Terms the knowledge base does not hold at all count in
 * that total, so a question about something absent scores low everywhere.
 */
export async function searchPassages(
  prisma: PrismaClient,
  { organizationId, assistantId, question, limit }: { organizationId: string; assistantId: string | null; question: string; limit: number },
): Promise<Hit[]> {
  const terms = await questionTerms(prisma, organizationId, question);
  const held = terms.list.filter((term) => term.df > 0);
  if (held.length === 0) return [];
  const selective = selectiveTerms(held);
  const rows = await prisma.$queryRaw<Array<Omit<Hit, 'coverage' | 'score'> & { bm25: number; matched: number }>>`
    WITH terms AS (
      SELECT t.idf, t.weight, quote_literal(t.lexeme)::tsquery AS query
      FROM unnest(${held.map((t) => t.lexeme)}::text[], ${held.map((t) => t.idf)}::float8[], ${held.map((t) => t.weight)}::float8[]) AS t(lexeme, idf, weight)
    ), matching AS MATERIALIZED (
      -- Found through the search index first: joined the other way, the planner may walk each
      -- source's passages in turn (one index scan per source).
      SELECT c.id, c.search, c."sourceId", c.version
      FROM "KnowledgeChunk" c
      WHERE c."organizationId" = ${organizationId}::uuid
        AND c.search @@ (SELECT string_agg(quote_literal(l), ${selective.all ? ' & ' : ' | '})::tsquery FROM unnest(${selective.lexemes}::text[]) AS l)
    ), candidates AS MATERIALIZED (
      -- Scoped once per passage, rather than once per passage and term.
      SELECT c.id, c.search
      FROM matching c
      JOIN "KnowledgeSource" s ON s.id = c."sourceId" AND s."organizationId" = ${organizationId}::uuid
      WHERE ${answersFrom(assistantId)} AND ${servedVersion}
    ), frequencies AS MATERIALIZED (
      -- Each ts_rank once per passage and term (the planner would otherwise repeat them in every
      -- expression that reads them); sum(1/i^2, i = 1..n) is pi^2/6 - 1/(n + 1/2) to within
      -- rounding: n back from ts_rank.
      SELECT c.id, length(c.search) AS len, t.idf, t.weight,
             round(1 / greatest(1.6449340668 - 1.6449340668 * r.everywhere, 1e-3) - 0.5) AS tf,
             CASE WHEN r.labelled = 0 THEN 0 ELSE round(1 / greatest(1.6449340668 - 1.6449340668 * r.title, 1e-3) - 0.5) END AS tf_title,
             CASE WHEN r.labelled = 0 THEN 0 ELSE round(1 / greatest(1.6449340668 - 1.6449340668 * r.labelled, 1e-3) - 0.5) END AS tf_labelled
      FROM candidates c
      JOIN terms t ON c.search @@ t.query
      CROSS JOIN LATERAL (
        SELECT ts_rank('{1,1,1,1}', c.search, t.query)::float8 AS everywhere,
               ts_rank('{0,0,1,1}', c.search, t.query)::float8 AS labelled,
               ts_rank('{0,0,0,1}', c.search, t.query)::float8 AS title
        OFFSET 0
      ) r
    ), scored AS (
      SELECT f.id, (count(*) FILTER (WHERE f.weight = 1))::int AS matched,
             sum(f.idf * w.tf * ${sqlNumber(BM25.k1 + 1)} / (w.tf + ${sqlNumber(BM25.k1)} * (1 - ${sqlNumber(BM25.b)} + ${sqlNumber(BM25.b)} * f.len / ${sqlNumber(terms.averageLength)}))) AS bm25
      FROM frequencies f
      CROSS JOIN LATERAL (
        SELECT f.tf + ${sqlNumber(FIELD_WEIGHT.title - 1)} * f.tf_title + ${sqlNumber(FIELD_WEIGHT.heading - 1)} * greatest(f.tf_labelled - f.tf_title, 0) AS tf
      ) w
      GROUP BY f.id
      ORDER BY bm25 DESC, f.id
      LIMIT ${limit}
    )
    SELECT c.id AS "chunkId", c."sourceId", s.kind, s.title, s.url, c.heading, c.content, r.bm25::float8 AS bm25, r.matched
    FROM scored r
    JOIN "KnowledgeChunk" c ON c.id = r.id
    JOIN "KnowledgeSource" s ON s.id = c."sourceId"
    ORDER BY r.bm25 DESC, c.id`;
  return rows.map(({ bm25, matched, ...row }) => ({
    ...row,
    rank: bm25,
    score: terms.mass > 0 ? bm25 / terms.mass : 0,
    coverage: matched / terms.asked,
  }));
}

type Term = { lexeme: string; weight: number; df: number; idf: number };

/**
 * The question's terms with their statistics in the organization, in one query
 * of index look-ups: the question's own lexemes (weight 1), and the lexemes of
 * synonyms of its words that no passage holds (SYNONYM_WEIGHT), with each one's
 * passage count and IDF; the average passage length; and the question's total
 * IDF (`mass`, its own terms only, held or not) and how many terms it has.
 */
async function questionTerms(prisma: PrismaClient, organizationId: string, question: string) {
  const pairs = synonymsOf(question);
  const texts = [question, ...new Set(pairs.flatMap((pair) => pair))];
  const rows = await prisma.$queryRaw<Array<{ text: number; lexeme: string; passages: number; lexemes: number }>>`
    -- One index look-up per lexeme, as a subquery: as a join, the planner may read all of the
    -- organization's terms (tens of thousands for a real knowledge base) to hash them.
    SELECT p.i::int AS text, t.lexeme, 0::float8 AS lexemes,
           coalesce((SELECT k.passages FROM "KnowledgeTerm" k WHERE k."organizationId" = ${organizationId}::uuid AND k.lexeme = t.lexeme), 0)::float8 AS passages
    FROM unnest(${texts}::text[]) WITH ORDINALITY AS p(text, i)
    CROSS JOIN LATERAL unnest(to_tsvector(${TS_CONFIG}::regconfig, p.text)) AS t
    UNION ALL
    SELECT 0, '', lexemes::float8, passages::float8 FROM "KnowledgeTerm" WHERE "organizationId" = ${organizationId}::uuid AND lexeme = ''`;
  const totals = rows.find((row) => row.text === 0);
  const n = Math.max(totals?.passages ?? 0, 1);
  const averageLength = Math.max((totals?.lexemes ?? 0) / n, 1);
  const lexemesOf = new Map<string, Array<{ lexeme: string; df: number }>>(texts.map((text) => [text, []]));
  for (const row of rows) if (row.text > 0) lexemesOf.get(texts[row.text - 1])!.push({ lexeme: row.lexeme, df: row.passages });
  const idf = (df: number, weight: number) => weight * Math.log(1 + (n - df + 0.5) / (df + 0.5));

  const list: Term[] = [];
  const seen = new Set<string>();
  for (const { lexeme, df } of lexemesOf.get(question)!) {
    if (seen.has(lexeme)) continue;
    seen.add(lexeme);
    list.push({ lexeme, weight: 1, df, idf: idf(df, 1) });
  }
  const mass = list.reduce((sum, term) => sum + term.idf, 0);
  const asked = list.length;
  // Synonyms stand in for the question's words that no passage of the organization holds.
  for (const [word, synonym] of pairs) {
    if (lexemesOf.get(word)!.some((term) => term.df > 0)) continue;
    for (const { lexeme, df } of lexemesOf.get(synonym)!) {
      if (seen.has(lexeme)) continue;
      seen.add(lexeme);
      list.push({ lexeme, weight: SYNONYM_WEIGHT, df, idf: idf(df, SYNONYM_WEIGHT) });
    }
  }
  return { list, averageLength, mass, asked };
}

/**
 * The terms whose passages are the candidates: the rarest, as many as hold at
 * most CANDIDATE_BUDGET passages together (any of them may match); when even
 * the rarest is commoner than that, every term (all must match).
 */
function selectiveTerms(held: Term[]): { lexemes: string[]; all: boolean } {
  const rarestFirst = [...held].sort((a, b) => a.df - b.df || (a.lexeme < b.lexeme ? -1 : a.lexeme > b.lexeme ? 1 : 0));
  const lexemes: string[] = [];
  let passages = 0;
  for (const term of rarestFirst) {
    passages += term.df;
    if (passages > CANDIDATE_BUDGET) break;
    lexemes.push(term.lexeme);
  }
  return lexemes.length > 0 ? { lexemes, all: false } : { lexemes: rarestFirst.map((term) => term.lexeme), all: true };
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
export function createPassageUpkeep(prisma: PrismaClient, logger: Logger = silentLogger) {
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

  // Once seen, statistics stay (only dropping the table loses them): pg_stats is a costly view
  // to ask after every ingestion (3-6 ms here, more than writing a Q&A pair's passage).
  let analyzed = false;

  // reltuples changes only with ANALYZE, VACUUM and index builds: read again after ours, not after
  // every ingestion (a Q&A pair's whole indexing is a dozen statements).
  let knownTotal: number | null = null;

  async function upkeep() {
    const total = (knownTotal ??= (
      await prisma.$queryRaw<{ total: number }[]>`
        SELECT greatest(reltuples, 0)::float8 AS total FROM pg_class WHERE oid = '"KnowledgeChunk"'::regclass`
    )[0].total);
    if (!analyzed) {
      const [row] = await prisma.$queryRaw<{ analyzed: boolean }[]>`
        SELECT EXISTS (
          SELECT 1 FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'KnowledgeChunk' AND attname = 'search'
        ) AS analyzed`;
      analyzed = row.analyzed;
    }
    const vacuum = deletedSinceVacuum > 50 + 0.2 * total && !(await autovacuumRuns());
    const analyze = !analyzed || changedSinceAnalyze > 50 + 0.1 * total;
    if (vacuum || analyze) knownTotal = null;
    if (vacuum && deletedSinceIndexCleanup > 50 + total) {
      deletedSinceIndexCleanup = deletedSinceVacuum = changedSinceAnalyze = 0;
      await rebuildVectorIndexes();
      await prisma.$executeRawUnsafe('VACUUM (ANALYZE) "KnowledgeChunk", "KnowledgeSource"');
      analyzed = true;
    } else if (vacuum) {
      deletedSinceVacuum = changedSinceAnalyze = 0;
      await prisma.$executeRawUnsafe('VACUUM (INDEX_CLEANUP OFF, ANALYZE) "KnowledgeChunk", "KnowledgeSource"');
      analyzed = true;
    } else if (analyze) {
      changedSinceAnalyze = 0;
      await prisma.$executeRawUnsafe('ANALYZE "KnowledgeChunk", "KnowledgeSource"');
      analyzed = true;
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
          await upkeep().catch((error: unknown) => logger.error({ err: error }, 'Knowledge base: passage upkeep failed.'));
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
