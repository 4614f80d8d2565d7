// Hybrid retrieval: which of the lexical and vector results a reply is given, in
// what order. Lexical ranking leads: its passages keep their order, so adding an
// embedding model can never rank a passage below where lexical search alone put
// it; passages only the embeddings find take the places lexical search leaves.
import type { Hit, PassageRow } from './passages.ts';
import type { VectorHit } from './vectors.ts';

export type Reference = PassageRow & {
  /**
   * How well the passage matches, 0 to 1: for a lexical match, the share of the
   * question it holds weighted by term rarity (BM25F over the question's total
   * IDF, capped at 1); for an embedding match, the cosine similarity; the larger
   * of the two when both found it.
   */
  score: number;
  /** A stored Q&A pair whose question matches the message closely: its answer is the reply. */
  closeQuestion: boolean;
};

export type FuseOptions = {
  /**
   * The best lexical match must hold at least this share of the question (score)
   * for any lexical match to count: below it, the question is about something
   * the knowledge base does not hold and the reply should say so.
   */
  minScore: number;
  /** Lexical matches scoring under this fraction of the best one are left out. */
  relativeCutoff: number;
  /** A passage at least this similar to the question (cosine) is relevant. */
  minSimilarity: number;
  /** Passages of one source at most: room for the other sources a question may be about. */
  perSource: number;
  /** Coverage or similarity from which a Q&A pair counts as the same question. */
  closeCoverage: number;
  closeSimilarity: number;
  limit: number;
};

/**
 * Chosen on the evaluation corpus (bench/manuals.ts), where every answerable
 * question's best passage scores 0.33 or more: minScore only leaves out questions
 * that share little with anything. It cannot tell a near-but-wrong question (its
 * subject absent, its words present) from an answerable one: measured there, their
 * best passages score 0.31 to 0.96, so such a reply cites the nearest documents and
 * the prompt's instructions are what keep the model from answering from them.
 */
export const DEFAULT_FUSION: Omit<FuseOptions, 'minSimilarity' | 'limit'> = {
  minScore: 0.2,
  relativeCutoff: 0.3,
  perSource: 3,
  closeCoverage: 0.75,
  closeSimilarity: 0.9,
};

const rounded = (value: number) => Math.round(Math.min(1, Math.max(0, value)) * 1000) / 1000;

export function fuse(lexical: Hit[], vector: VectorHit[], options: FuseOptions): Reference[] {
  const best = lexical[0]?.score ?? 0;
  const relevant = best >= options.minScore ? lexical.filter((hit) => hit.score >= options.relativeCutoff * best) : [];
  const similarity = new Map(vector.map((hit) => [hit.chunkId, hit.similarity]));
  const chosen = new Set(relevant.map((hit) => hit.chunkId));
  const coverage = new Map(lexical.map((hit) => [hit.chunkId, hit]));
  const byVector = vector.filter((hit) => hit.similarity >= options.minSimilarity && !chosen.has(hit.chunkId));

  const perSource = new Map<string, number>();
  const out: Reference[] = [];
  for (const base of [...relevant, ...byVector]) {
    if (out.length === options.limit) break;
    const taken = perSource.get(base.sourceId) ?? 0;
    if (taken >= options.perSource) continue;
    perSource.set(base.sourceId, taken + 1);
    const lexicalHit = coverage.get(base.chunkId);
    const cosine = similarity.get(base.chunkId) ?? 0;
    out.push({
      chunkId: base.chunkId,
      sourceId: base.sourceId,
      kind: base.kind,
      title: base.title,
      url: base.url,
      heading: base.heading,
      content: base.content,
      score: rounded(Math.max(lexicalHit && chosen.has(base.chunkId) ? lexicalHit.score : 0, cosine)),
      closeQuestion: base.kind === 'qa' && ((lexicalHit?.coverage ?? 0) >= options.closeCoverage || cosine >= options.closeSimilarity),
    });
  }
  return out;
}
