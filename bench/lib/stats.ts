// Percentiles of samples within one run, and the summary across runs
// (median with min and max) that the table prints.

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when there are none. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export const median = (values: number[]) => {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2;
};

export type Summary = { median: number; min: number; max: number };

export function summarize(values: number[]): Summary {
  const finite = values.filter(Number.isFinite);
  return { median: median(finite), min: finite.length ? Math.min(...finite) : Number.NaN, max: finite.length ? Math.max(...finite) : Number.NaN };
}
