// Checking what the assistants find: a search that returns exactly the passages
// a reply would be given (the chat's own retrieval), and an evaluation that asks
// a set of questions whose answering source is known and scores the ranking.
import { z } from 'zod';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { AppError } from '../errors.ts';
import { EVALUATION_MAX_CASES, rankOf, summarise, type EvaluationSummary } from '../knowledge/evaluate.ts';
import type { Reference } from '../knowledge/fuse.ts';
import { answersFrom } from '../knowledge/passages.ts';
import type { Assistant, AssistantService } from './assistant.ts';
import { MESSAGE_MAX_CHARS, RETRIEVAL_LIMIT, snippetOf } from './chat.ts';
import type { RetrievalQuery } from './knowledge.ts';
import type { QuestionRewriter } from './question-rewrite.ts';
import { isUuid, parseInput, requiredText } from './validation.ts';
import type { Viewer } from './viewer.ts';

/**
 * The knowledge service's retrieval. `assistantId` null asks as no particular
 * assistant: the sources that serve every assistant (added without
 * assistant_ids), the scope rule of the passage searches.
 */
export type Retrieve = (query: RetrievalQuery) => Promise<{ references: Reference[]; searched: boolean }>;

export type KnowledgeSearchDeps = {
  prisma: PrismaClient;
  assistants: Pick<AssistantService, 'get'>;
  retrieve: Retrieve;
  /** For assistants with `rewriteQuestions` on: their searches here are rewritten as their replies' are. */
  rewriteQuestion?: QuestionRewriter;
};

/** Most passages one search returns. */
export const SEARCH_MAX_LIMIT = 50;
export const EVALUATION_QUESTION_MAX_CHARS = 2000;
/** Passages read per question: a source found below this rank counts as not found. */
export const EVALUATION_DEPTH = 20;
/** Questions retrieved at once: each is a few queries and an embedding; more would crowd out live replies. */
const EVALUATION_CONCURRENCY = 4;

const assistantId = z.string().nullish();

const searchSchema = z.object({
  query: requiredText(MESSAGE_MAX_CHARS),
  assistantId,
  limit: z
    .number()
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .max(SEARCH_MAX_LIMIT, { error: `must be at most ${SEARCH_MAX_LIMIT}` })
    .nullish()
    .transform((limit) => limit ?? RETRIEVAL_LIMIT),
});

const evaluationSchema = z.object({
  assistantId,
  cases: z
    .array(
      z.object({
        question: requiredText(EVALUATION_QUESTION_MAX_CHARS),
        expectedSourceId: requiredText(100),
      }),
    )
    .min(1, { error: 'must hold at least one case' })
    .max(EVALUATION_MAX_CASES, { error: `must hold at most ${EVALUATION_MAX_CASES} cases; split the set into several evaluations` }),
});

export type SearchedPassage = {
  /** 1-based position, best first. */
  rank: number;
  sourceId: string;
  kind: Reference['kind'];
  title: string;
  url: string | null;
  heading: string;
  snippet: string;
  text: string;
  score: number;
};

export type KnowledgeSearch = {
  query: string;
  assistantId: string | null;
  /** The model's search terms, searched after the query, when the assistant rewrites questions; null otherwise. */
  rewrittenQuery: string | null;
  searched: boolean;
  passages: SearchedPassage[];
};

export type EvaluatedCase = {
  question: string;
  expectedSourceId: string;
  /** Position of the expected source's first passage; null when not among the first EVALUATION_DEPTH. */
  rank: number | null;
  /** That passage's score. */
  score: number | null;
  /** The source of the passage that ranked first (the one a reply leans on most). */
  topSourceId: string | null;
  /** Why no search could find the expected source (not indexed, or serving other assistants); null otherwise. */
  reason: string | null;
  /** The model's search terms for the question, when the assistant rewrites questions; null otherwise. */
  rewrittenQuestion: string | null;
};

export type KnowledgeEvaluation = EvaluationSummary & { assistantId: string | null; depth: number; cases: EvaluatedCase[] };

/** Runs `work` over the items, at most `concurrency` at a time, keeping their order. */
async function mapLimited<T, R>(items: readonly T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/**
 * Runs work for one key after the work queued before it for that key has
 * settled. An evaluation is one request but hundreds of retrievals: an
 * organization sending many at once (parallel requests, or aliases in one
 * GraphQL document) has them run one after another, so it never holds more
 * than EVALUATION_CONCURRENCY retrievals on an instance.
 */
function createKeyedQueue() {
  const tails = new Map<string, Promise<void>>();
  return <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const run = (tails.get(key) ?? Promise.resolve()).then(work);
    const tail = run.then(
      () => {},
      () => {},
    );
    tails.set(key, tail);
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return run;
  };
}

export function createKnowledgeSearchService({ prisma, assistants, retrieve, rewriteQuestion }: KnowledgeSearchDeps) {
  const inTurn = createKeyedQueue();

  /** The assistant asked as (404 when unknown or another organization's), or null for none in particular. */
  async function assistantOf(viewer: Viewer, id: string | null | undefined): Promise<Assistant | null> {
    return id ? assistants.get(viewer, id) : null;
  }

  /**
   * Retrieval as a reply of `assistant` would run it, rewrite included; says
   * what the rewrite searched for.
   */
  async function retrieveAs(viewer: Viewer, assistant: Assistant | null, question: string, limit: number) {
    let rewritten: string | null = null;
    const rewrite =
      assistant?.rewriteQuestions && rewriteQuestion
        ? async (asked: string) => {
            const result = await rewriteQuestion({ model: assistant.model, question: asked });
            rewritten = result.rewrite;
            return result.searchText;
          }
        : undefined;
    const found = await retrieve({ organizationId: viewer.organizationId, assistantId: assistant?.id ?? null, question, limit, rewrite });
    return { ...found, rewritten };
  }

  /**
   * Every expected source must be one of the organization's: a typo would
   * otherwise read as a retrieval miss. A foreign id answers like a missing one.
   * Returns, for each source that no search as `scope` can find (not indexed,
   * or serving other assistants), why: a person then fixes the set or the
   * source instead of the ranking.
   */
  async function checkSources(viewer: Viewer, scope: string | null, cases: Array<{ expectedSourceId: string }>): Promise<Map<string, string>> {
    const ids = [...new Set(cases.map((c) => c.expectedSourceId).filter(isUuid))];
    const found = await prisma.knowledgeSource.findMany({
      where: { id: { in: ids }, organizationId: viewer.organizationId },
      select: { id: true, status: true, error: true, chunkCount: true },
    });
    const known = new Set(found.map((s) => s.id));
    const unknown = cases.findIndex((c) => !known.has(c.expectedSourceId));
    if (unknown !== -1) {
      const id = cases[unknown].expectedSourceId;
      const others = new Set(cases.filter((c) => !known.has(c.expectedSourceId)).map((c) => c.expectedSourceId)).size - 1;
      throw new AppError(
        'NOT_FOUND',
        `Knowledge source ${JSON.stringify(id)}, expected by cases.${unknown}, was not found` +
          `${others > 0 ? ` (nor ${others} other expected source${others === 1 ? '' : 's'})` : ''}; use the ids of this organization's knowledge sources.`,
      );
    }
    // The searches' own scope rule, so that this cannot disagree with them.
    const searchable = new Set(
      (
        await prisma.$queryRaw<Array<{ id: string }>>`
          SELECT s.id FROM "KnowledgeSource" s
          WHERE s.id = ANY (${ids}::uuid[]) AND s."organizationId" = ${viewer.organizationId}::uuid AND ${answersFrom(scope)}`
      ).map((row) => row.id),
    );
    const reasons = new Map<string, string>();
    for (const source of found) {
      if (searchable.has(source.id)) continue;
      reasons.set(
        source.id,
        source.chunkCount === 0
          ? source.status === 'failed'
            ? `The source could not be indexed: ${source.error ?? 'its processing failed.'}`
            : `The source is not indexed yet (${source.status}); evaluate again once it is ready.`
          : scope
            ? 'The source serves other assistants only, not this one.'
            : 'The source serves chosen assistants only; pass assistant_id to ask as one of them.',
      );
    }
    return reasons;
  }

  return {
    /** The passages a reply to `query` would be given, best first, with their scores. */
    async search(viewer: Viewer, input: { query: string; assistantId?: string | null; limit?: number | null }): Promise<KnowledgeSearch> {
      const data = parseInput(searchSchema, input);
      const assistant = await assistantOf(viewer, data.assistantId);
      const { references, searched, rewritten } = await retrieveAs(viewer, assistant, data.query, data.limit);
      return {
        query: data.query,
        assistantId: assistant?.id ?? null,
        rewrittenQuery: rewritten,
        searched,
        passages: references.map((reference, index) => ({
          rank: index + 1,
          sourceId: reference.sourceId,
          kind: reference.kind,
          title: reference.title,
          url: reference.url,
          heading: reference.heading,
          snippet: snippetOf(reference.content),
          text: reference.content,
          score: reference.score,
        })),
      };
    },

    /** Asks each question as a reply would and scores where its expected source ranks. */
    async evaluate(viewer: Viewer, input: { assistantId?: string | null; cases: Array<{ question: string; expectedSourceId: string }> }): Promise<KnowledgeEvaluation> {
      const data = parseInput(evaluationSchema, input);
      const assistant = await assistantOf(viewer, data.assistantId);
      const scope = assistant?.id ?? null;
      const unsearchable = await checkSources(viewer, scope, data.cases);
      const ask = async ({ question, expectedSourceId }: { question: string; expectedSourceId: string }): Promise<EvaluatedCase> => {
        const { references, rewritten } = await retrieveAs(viewer, assistant, question, EVALUATION_DEPTH);
        const rank = rankOf(references.map((r) => r.sourceId), expectedSourceId);
        return {
          question,
          expectedSourceId,
          rank,
          score: rank === null ? null : references[rank - 1].score,
          topSourceId: references[0]?.sourceId ?? null,
          reason: rank === null ? (unsearchable.get(expectedSourceId) ?? null) : null,
          rewrittenQuestion: rewritten,
        };
      };
      const cases = await inTurn(viewer.organizationId, () => mapLimited(data.cases, EVALUATION_CONCURRENCY, ask));
      return { ...summarise(cases.map((c) => c.rank)), assistantId: scope, depth: EVALUATION_DEPTH, cases };
    },
  };
}

export type KnowledgeSearchService = ReturnType<typeof createKnowledgeSearchService>;
