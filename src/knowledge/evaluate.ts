// Retrieval quality as a search engine measures it: for each question, the
// rank at which the source that answers it comes back, and over a set of
// questions recall@1, recall@5 and the mean reciprocal rank (MRR). No imports:
// the CLI reads the case limit from here without loading the database layer.

/** Most questions one evaluation asks: one request, 10 to 20 s of retrieval on PGlite here (100 took 4 to 6 s). */
export const EVALUATION_MAX_CASES = 500;

/**
 * The 1-based position of the first passage of `expected` among passages
 * ranked best first, or null when none of them is from that source. Counting
 * passages, not distinct sources, matches what a reply cites: five passages of
 * one wrong document push the right one out of the first five.
 */
export function rankOf(rankedSourceIds: readonly string[], expected: string): number | null {
  const index = rankedSourceIds.indexOf(expected);
  return index === -1 ? null : index + 1;
}

export type EvaluationSummary = {
  /** Questions asked. */
  total: number;
  /** Questions whose source came back at any rank. */
  found: number;
  /** Share of questions whose source ranked first, 0 to 1. */
  recallAt1: number;
  /** Share of questions whose source ranked in the first five, 0 to 1. */
  recallAt5: number;
  /** Mean of 1/rank over all questions, a question not found counting 0. */
  mrr: number;
};

/** Figures are rounded to 4 decimals: enough to compare runs, short enough to read. */
const round = (value: number) => Math.round(value * 10_000) / 10_000;

export function summarise(ranks: ReadonlyArray<number | null>): EvaluationSummary {
  const total = ranks.length;
  if (total === 0) return { total, found: 0, recallAt1: 0, recallAt5: 0, mrr: 0 };
  const within = (k: number) => ranks.filter((rank) => rank !== null && rank <= k).length / total;
  const reciprocal = ranks.reduce<number>((sum, rank) => sum + (rank === null ? 0 : 1 / rank), 0);
  return {
    total,
    found: ranks.filter((rank) => rank !== null).length,
    recallAt1: round(within(1)),
    recallAt5: round(within(5)),
    mrr: round(reciprocal / total),
  };
}
