// Background work on the database (ingestion's writes, an upload's parts) in
// short steps that give way to everyone else between them. PGlite runs one
// statement at a time on the main thread, and its lock is not first come, first
// served: a caller that asks again in the same tick as it let go overtakes the
// queries waiting (100 back-to-back statements let one waiting query through),
// so a loop of short statements starves the others as surely as one long one.
import { embeddedDatabaseDemand } from '../db/pglite-adapter.ts';

/**
 * Between two steps of background work: while others want the embedded
 * database, waits as long as the last step held it (background work then takes
 * at most about half of its time); otherwise 1 ms, enough for requests that
 * arrived during the step to be read and ask for it. Alone (or on PostgreSQL,
 * which serves others meanwhile), work runs at nearly full speed: waiting out
 * every step halved ingestion for nobody's benefit.
 */
export function giveWay(busyMs: number): Promise<void> {
  const wait = embeddedDatabaseDemand() > 0 ? Math.min(Math.max(1, busyMs), 250) : 1;
  return new Promise((resolve) => setTimeout(resolve, wait));
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
