// Background work on the database (ingestion's writes, an upload's parts) in
// short steps that give way to everyone else between them. PGlite runs one
// statement at a time on the main thread, and its lock is not first come, first
// served: a caller that asks again in the same tick as it let go overtakes the
// queries waiting (100 back-to-back statements let one waiting query through),
// so a loop of short statements starves the others as surely as one long one.

/**
 * Waits as long as the last step held the database (at least 1 ms): queries
 * that arrived meanwhile run first, and background work takes at most about
 * half of the database's time while others want it.
 */
export function giveWay(busyMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.min(Math.max(1, busyMs), 250)));
}

/**
 * Sizes the batches of a loop so that each statement holds the database for
 * about `targetMs`, whatever the machine and the size of each item: a query
 * that arrives during a batch waits for that batch at most. Never below `min`:
 * each transaction has a fixed cost, and on a busy machine single items would
 * make ingestion crawl.
 */
export function createBatchSizer({ targetMs = 40, min = 4, max = 64, initial = 16 }: { targetMs?: number; min?: number; max?: number; initial?: number } = {}) {
  let size = initial;
  return {
    get size() {
      return size;
    },
    /** Records how long a batch of `count` items took and gives way for as long. */
    async done(count: number, tookMs: number): Promise<void> {
      const perItem = tookMs / Math.max(1, count);
      // Halfway to the size that would have taken targetMs: one slow batch (a GC, a busy machine) does not swing it.
      const ideal = perItem > 0 ? targetMs / perItem : max;
      size = Math.round(Math.min(max, Math.max(min, (size + ideal) / 2)));
      await giveWay(tookMs);
    },
  };
}
