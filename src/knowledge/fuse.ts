// Hybrid retrieval: lexical and vector results fused by reciprocal rank (RRF),
// so neither score scale has to be calibrated against the other; a passage is
// used only when one of the two says it is relevant.
import type { Hit, PassageRow } from './passages.ts';
import type { VectorHit } from './vectors.ts';

export type Reference = PassageRow & {
  /** How well the passage matches, 0 to 1: the larger of term coverage and embedding similarity. */
  score: number;
  /** A stored Q&A pair whose question matches the message closely: its answer is the reply. */
  closeQuestion: boolean;
};

export type FuseOptions = {
  /** A passage covering at least this share of the question's terms is relevant. */
  minCoverage: number;
  /** A passage at least this similar to the question (cosine) is relevant. */
  minSimilarity: number;
  /** Coverage or similarity from which a Q&A pair counts as the same question. */
  closeCoverage: number;
  closeSimilarity: number;
  limit: number;
};

export const DEFAULT_FUSION: Omit<FuseOptions, 'minSimilarity' | 'limit'> = {
  minCoverage: 0.5,
  closeCoverage: 0.75,
  closeSimilarity: 0.9,
};

/** The constant of reciprocal rank fusion; 60 is the value of the original paper and common practice. */
const RRF_K = 60;

export function fuse(lexical: Hit[], vector: VectorHit[], options: FuseOptions): Reference[] {
  type Entry = { base: Hit | VectorHit; coverage: number; similarity: number; rrf: number };
  const entries = new Map<string, Entry>();
  const entry = (base: Hit | VectorHit) => {
    let found = entries.get(base.chunkId);
    if (!found) entries.set(base.chunkId, (found = { base, coverage: 0, similarity: 0, rrf: 0 }));
    return found;
  };
  lexical.forEach((hit, rank) => {
    const e = entry(hit);
    e.coverage = hit.coverage;
    e.rrf += 1 / (RRF_K + rank + 1);
  });
  vector.forEach((hit, rank) => {
    const e = entry(hit);
    e.similarity = hit.similarity;
    e.rrf += 1 / (RRF_K + rank + 1);
  });
  return [...entries.values()]
    .filter((e) => e.coverage >= options.minCoverage || e.similarity >= options.minSimilarity)
    .sort((a, b) => b.rrf - a.rrf)
    .slice(0, options.limit)
    .map(({ base, coverage, similarity }) => ({
      chunkId: base.chunkId,
      sourceId: base.sourceId,
      kind: base.kind,
      title: base.title,
      url: base.url,
      heading: base.heading,
      content: base.content,
      score: Math.round(Math.max(coverage, Math.min(1, Math.max(0, similarity))) * 1000) / 1000,
      closeQuestion: base.kind === 'qa' && (coverage >= options.closeCoverage || similarity >= options.closeSimilarity),
    }));
}
