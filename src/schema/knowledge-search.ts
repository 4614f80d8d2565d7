import type { EvaluatedCase, KnowledgeEvaluation, KnowledgeSearch, SearchedPassage } from '../services/knowledge-search.ts';
import { builder } from './builder.ts';

const KnowledgePassageRef = builder.objectRef<SearchedPassage>('KnowledgePassage').implement({
  description: 'A passage of the knowledge base as retrieval ranked it for a question.',
  fields: (t) => ({
    rank: t.exposeInt('rank', { description: '1 for the best match.' }),
    sourceId: t.exposeID('sourceId'),
    kind: t.exposeString('kind', { description: 'file, qa or url.' }),
    title: t.exposeString('title'),
    url: t.exposeString('url', { nullable: true }),
    heading: t.exposeString('heading', { description: 'The section the passage comes from (a Q&A pair\'s question).' }),
    snippet: t.exposeString('snippet', { description: 'The start of the passage, as a reply\'s sources show it.' }),
    text: t.exposeString('text', { description: 'The whole passage, as the model is given it.' }),
    score: t.exposeFloat('score', { description: 'How well it matches, 0 to 1.' }),
  }),
});

const KnowledgeSearchRef = builder.objectRef<KnowledgeSearch>('KnowledgeSearchResult').implement({
  fields: (t) => ({
    query: t.exposeString('query'),
    assistantId: t.exposeID('assistantId', { nullable: true, description: 'The assistant asked as; null: the sources that serve every assistant.' }),
    rewrittenQuery: t.exposeString('rewrittenQuery', {
      nullable: true,
      description: "The model's search terms for the query, searched after it, when the assistant rewrites questions; null otherwise.",
    }),
    searched: t.exposeBoolean('searched', { description: 'False when there was no indexed knowledge to search at all.' }),
    passages: t.field({ type: [KnowledgePassageRef], resolve: (r) => r.passages, description: 'What a reply would be given, best first.' }),
  }),
});

const EvaluatedCaseRef = builder.objectRef<EvaluatedCase>('KnowledgeEvaluationCase').implement({
  fields: (t) => ({
    question: t.exposeString('question'),
    expectedSourceId: t.exposeID('expectedSourceId'),
    rank: t.exposeInt('rank', { nullable: true, description: 'Position of the expected source\'s first passage; null when it was not found.' }),
    score: t.exposeFloat('score', { nullable: true, description: 'That passage\'s score.' }),
    topSourceId: t.exposeID('topSourceId', { nullable: true, description: 'The source of the passage that ranked first.' }),
    rewrittenQuestion: t.exposeString('rewrittenQuestion', {
      nullable: true,
      description: "The model's search terms for the question, when the assistant rewrites questions; null otherwise.",
    }),
    reason: t.exposeString('reason', {
      nullable: true,
      description: 'Why no search could find the expected source (not indexed yet, failed, or serving other assistants); null when found or merely ranked too low.',
    }),
  }),
});

const KnowledgeEvaluationRef = builder.objectRef<KnowledgeEvaluation>('KnowledgeEvaluation').implement({
  description: 'How well retrieval finds the source that answers each question.',
  fields: (t) => ({
    assistantId: t.exposeID('assistantId', { nullable: true }),
    total: t.exposeInt('total', { description: 'Questions asked.' }),
    found: t.exposeInt('found', { description: 'Questions whose source was found at any rank.' }),
    recallAt1: t.exposeFloat('recallAt1', { description: 'Share of questions whose source ranked first.' }),
    recallAt5: t.exposeFloat('recallAt5', { description: 'Share of questions whose source ranked in the first five.' }),
    mrr: t.exposeFloat('mrr', { description: 'Mean reciprocal rank: the mean of 1/rank, 0 for a question not found.' }),
    depth: t.exposeInt('depth', { description: 'Passages read per question; a source ranked lower counts as not found.' }),
    cases: t.field({ type: [EvaluatedCaseRef], resolve: (e) => e.cases }),
  }),
});

const SearchKnowledgeInput = builder.inputType('SearchKnowledgeInput', {
  fields: (t) => ({
    query: t.string({ required: true, description: 'A question, worded as a user would ask it.' }),
    assistantId: t.id({ description: 'Search as this assistant does (its own sources and the shared ones); default: the shared sources only.' }),
    limit: t.int({ description: 'Passages to return (default 8, the number a reply considers; at most 50).' }),
  }),
});

const EvaluationCaseInput = builder.inputType('KnowledgeEvaluationCaseInput', {
  fields: (t) => ({
    question: t.string({ required: true }),
    expectedSourceId: t.id({ required: true, description: 'The knowledge source that answers the question.' }),
  }),
});

const EvaluateKnowledgeInput = builder.inputType('EvaluateKnowledgeInput', {
  fields: (t) => ({
    assistantId: t.id({ description: 'Ask as this assistant does; default: the shared sources only.' }),
    cases: t.field({ type: [EvaluationCaseInput], required: true, description: 'At most 500 questions.' }),
  }),
});

/** GraphQL IDs may arrive as numbers; absent stays absent. */
const optionalId = (id: string | number | null | undefined) => (id == null ? id : String(id));

builder.queryFields((t) => ({
  searchKnowledge: t.field({
    type: KnowledgeSearchRef,
    authScopes: { apiKey: true },
    description: 'The passages a reply to this question would be given, with their scores.',
    args: { input: t.arg({ type: SearchKnowledgeInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.knowledgeSearch.search(ctx.viewer!, { ...input, assistantId: optionalId(input.assistantId) }),
  }),
  evaluateKnowledge: t.field({
    type: KnowledgeEvaluationRef,
    authScopes: { apiKey: true },
    description: 'Asks each question as a reply would and reports recall@1, recall@5, MRR and each case\'s rank.',
    args: { input: t.arg({ type: EvaluateKnowledgeInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.knowledgeSearch.evaluate(ctx.viewer!, {
        assistantId: optionalId(input.assistantId),
        cases: input.cases.map((c) => ({ question: c.question, expectedSourceId: String(c.expectedSourceId) })),
      }),
  }),
}));
