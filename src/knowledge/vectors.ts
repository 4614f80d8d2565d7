// Vector search over passage embeddings. Where the database has pgvector
// (PGlite ships it), a `vector` column mirrors the portable float array and an
// HNSW index per embedding size answers nearest-neighbour queries; elsewhere
// (a PostgreSQL without the extension, with one older than 0.5, or where this
// database user may not create it) the embeddings are scored in process, which
// suits small knowledge bases only. Prisma's migrations stay portable: none of
// this is in them.
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';
import { silentLogger, type Logger } from '../log.ts';
import { answersFrom, servedVersion, type PassageRow } from './passages.ts';

export type VectorHit = PassageRow & {
  /** Cosine similarity to the question, -1 to 1. */
  similarity: number;
};

/**
 * Passages scored in process at most, where the database cannot search vectors
 * itself: the newest ones. Reading and parsing embeddings costs about 0.1 ms a
 * passage at 768 dimensions on these machines, paid on every question and mostly
 * on the event loop (5,000 passages: 0.6 s); this keeps it near 0.2 s.
 */
const IN_PROCESS_LIMIT = 2_000;
/** The most candidates an HNSW scan may gather (pgvector's ceiling for hnsw.ef_search). */
const MAX_EF_SEARCH = 1000;

/**
 * What an installed pgvector can do: HNSW indexes came with 0.5.0, iterative
 * index scans (which go on past passages that the filters drop) with 0.8.0.
 */
export function pgvectorFeatures(version: string): { hnsw: boolean; iterativeScan: boolean } {
  const [major = 0, minor = 0] = version.split('.').map((part) => Number.parseInt(part, 10) || 0);
  const atLeast = (wantMajor: number, wantMinor: number) => major > wantMajor || (major === wantMajor && minor >= wantMinor);
  return { hnsw: atLeast(0, 5), iterativeScan: atLeast(0, 8) };
}

/**
 * The condition on a source (aliased `s`) whose vectors compare with a question
 * embedded by `model`; another model's do not. A source that records no model
 * either has no embeddings or was indexed before sources recorded it (most likely
 * by this model; the catch-up of src/services/knowledge.ts checks and settles it).
 */
function embeddedBy(model: string): Prisma.Sql {
  return Prisma.sql`(s."embeddingModel" = ${model} OR s."embeddingModel" IS NULL)`;
}

/** `logger` hears when vectors are compared in process (no pgvector), once per process and per organization outgrowing it. */
export function createVectorIndex(prisma: PrismaClient, logger: Logger = silentLogger) {
  let supported: Promise<ReturnType<typeof pgvectorFeatures> | null> | undefined;
  /** Organizations told once that their passages outgrow in-process scoring. */
  const warnedOrganizations = new Set<string>();
  const indexedSizes = new Set<number>();

  /**
   * pgvector's features, or null where it is missing, cannot be enabled by this
   * database user, or is too old for HNSW: vectors are then scored in process.
   */
  async function enable(): Promise<ReturnType<typeof pgvectorFeatures> | null> {
    const inProcess = (why: string) => {
      logger.warn(`Knowledge base: ${why}; embeddings are compared in process, which suits small knowledge bases only.`);
      return null;
    };
    const installedVersion = async () =>
      (await prisma.$queryRawUnsafe<Array<{ version: string }>>(`SELECT extversion AS version FROM pg_extension WHERE extname = 'vector'`))[0]?.version;
    let version = await installedVersion();
    if (!version) {
      try {
        await prisma.$executeRawUnsafe('CREATE EXTENSION IF NOT EXISTS vector');
      } catch (error) {
        const message = String((error as Error).message);
        // Not installed on the server (0A000, 58P01), or not ours to create (42501: pgvector is not a trusted extension).
        if (!/0A000|58P01|42501|is not available|could not open extension control file|permission denied|must be (owner|superuser)/.test(message)) throw error;
        return inProcess(`pgvector is unavailable (${message.split('\n')[0]}; a superuser can run CREATE EXTENSION vector in this database)`);
      }
      version = await installedVersion();
    }
    const found = pgvectorFeatures(version ?? '0');
    if (!found.hnsw) return inProcess(`pgvector ${version} has no HNSW index (0.5.0 or later does)`);
    try {
      await prisma.$executeRawUnsafe('ALTER TABLE "KnowledgeChunk" ADD COLUMN IF NOT EXISTS "embeddingVec" vector');
    } catch (error) {
      // Say, pgvector lives in a schema outside this database user's search path.
      return inProcess(`the vector column could not be added (${String((error as Error).message).split('\n')[0]})`);
    }
    return found;
  }

  /** Checked once; a check that failed for a passing reason (a lost connection) is tried again next time. */
  const features = () =>
    (supported ??= enable().catch((error: unknown) => {
      supported = undefined;
      throw error;
    }));
  /** Whether the database searches vectors itself (checked once, enabling pgvector on the way). */
  const hasPgvector = async () => (await features()) !== null;

  /** An HNSW index for one embedding size, made the first time passages of that size are stored. */
  async function ensureIndex(dimensions: number) {
    if (indexedSizes.has(dimensions)) return;
    try {
      await prisma.$executeRawUnsafe(
        `CREATE INDEX IF NOT EXISTS "KnowledgeChunk_embedding_${dimensions}_idx" ON "KnowledgeChunk" ` +
          `USING hnsw (("embeddingVec"::vector(${dimensions})) vector_cosine_ops) WHERE vector_dims("embeddingVec") = ${dimensions}`,
      );
    } catch (error) {
      // Another instance created it at the same moment: IF NOT EXISTS does not cover a race in the catalog.
      if (!/already exists|duplicate key value/.test(String((error as Error).message))) throw error;
    }
    indexedSizes.add(dimensions);
  }

  return {
    hasPgvector,

    /**
     * Makes passages of one embedding size searchable: passages carry their vector
     * from the start (see stagePassages), and the index is built once, over the
     * rows already there, the first time a size is seen.
     */
    ensureIndex,

    /** The nearest passages embedded by `model` (see embeddedBy). */
    async search(query: { organizationId: string; assistantId: string | null; model: string; embedding: number[]; limit: number }): Promise<VectorHit[]> {
      const dims = query.embedding.length;
      if (dims === 0) return [];
      const pgvector = await features();
      if (pgvector) {
        await ensureIndex(dims);
        const literal = `[${query.embedding.join(',')}]`;
        // An HNSW scan hands back its ef_search (40) nearest passages and the filters
        // below apply afterwards: when another organization's or assistant's passages
        // are nearer, that left nothing. An iterative scan goes on until LIMIT rows pass
        // the filters (bounded by hnsw.max_scan_tuples); strict order keeps them sorted.
        // Before pgvector 0.8 the best there is: gather as many candidates as it allows.
        const scan = pgvector.iterativeScan ? `SET LOCAL hnsw.iterative_scan = strict_order` : `SET LOCAL hnsw.ef_search = ${MAX_EF_SEARCH}`;
        // The size is part of the indexed expression and of the index's predicate, so it is
        // written into the SQL (a parameter would not match the index); it is a number we computed.
        const size = Prisma.raw(String(dims));
        const [, hits] = await prisma.$transaction([
          prisma.$executeRawUnsafe(scan),
          // The source is checked per passage, in the order the index hands passages out (a
          // lateral subquery the planner may not flatten: OFFSET 0). As a join, the planner could
          // start from the sources instead, read every passage of each and sort them all: it
          // misjudges how many passages a source holds (10,000 passages: 90 ms instead of 6).
          prisma.$queryRaw<VectorHit[]>`
            SELECT c.id AS "chunkId", c."sourceId", s.kind, s.title, s.url, c.heading, c.content,
                   (1 - (c."embeddingVec"::vector(${size}) <=> ${literal}::vector(${size})))::float8 AS similarity
            FROM "KnowledgeChunk" c
            CROSS JOIN LATERAL (
              SELECT s.kind, s.title, s.url FROM "KnowledgeSource" s
              WHERE s.id = c."sourceId" AND ${embeddedBy(query.model)} AND ${answersFrom(query.assistantId)} AND ${servedVersion}
              OFFSET 0
            ) s
            WHERE vector_dims(c."embeddingVec") = ${size}
              AND c."organizationId" = ${query.organizationId}::uuid
            ORDER BY c."embeddingVec"::vector(${size}) <=> ${literal}::vector(${size})
            LIMIT ${query.limit}`,
        ]);
        return hits;
      }
      // Embeddings come as text and are parsed as JSON: several times faster than the
      // driver's own parsing of float arrays (10,000 passages of 64 dimensions: 75 against 330 ms).
      const rows = await prisma.$queryRaw<Array<{ chunkId: string; embedding: string }>>`
        SELECT c.id AS "chunkId", c.embedding::real[]::text AS embedding
        FROM "KnowledgeChunk" c JOIN "KnowledgeSource" s ON s.id = c."sourceId"
        WHERE c."organizationId" = ${query.organizationId}::uuid
          AND cardinality(c.embedding) = ${dims}
          AND ${embeddedBy(query.model)}
          AND ${answersFrom(query.assistantId)}
          AND ${servedVersion}
        ORDER BY c."createdAt" DESC, c.id
        LIMIT ${IN_PROCESS_LIMIT + 1}`;
      if (rows.length > IN_PROCESS_LIMIT && !warnedOrganizations.has(query.organizationId)) {
        warnedOrganizations.add(query.organizationId);
        logger.warn(
          { organization_id: query.organizationId },
          `Knowledge base: organization ${query.organizationId} has over ${IN_PROCESS_LIMIT} passages with embeddings; without pgvector ` +
            'only the newest are compared by meaning (all are still found by their words). Install pgvector in this database.',
        );
      }
      const best = rows
        .slice(0, IN_PROCESS_LIMIT)
        .map(({ chunkId, embedding }) => ({ chunkId, similarity: cosine(query.embedding, JSON.parse(`[${embedding.slice(1, -1)}]`)) }))
        .sort((a, b) => b.similarity - a.similarity)
        .slice(0, query.limit);
      if (best.length === 0) return [];
      const details = await prisma.$queryRaw<PassageRow[]>`
        SELECT c.id AS "chunkId", c."sourceId", s.kind, s.title, s.url, c.heading, c.content
        FROM "KnowledgeChunk" c JOIN "KnowledgeSource" s ON s.id = c."sourceId"
        WHERE c.id = ANY (${best.map((hit) => hit.chunkId)}::uuid[])`;
      const byId = new Map(details.map((row) => [row.chunkId, row]));
      return best.flatMap(({ chunkId, similarity }) => {
        const row = byId.get(chunkId);
        return row ? [{ ...row, similarity }] : []; // deleted in between
      });
    },
  };
}

export type VectorIndex = ReturnType<typeof createVectorIndex>;

export function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
