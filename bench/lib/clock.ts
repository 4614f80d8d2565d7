// One clock for every process of the benchmark: CLOCK_MONOTONIC, which
// process.hrtime reads and which is the same for all processes of the machine
// (unlike performance.now(), whose origin is each process's start).
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** What to add to this process's performance.now() to get now(); averaged over a few reads. */
export function performanceOffset(): number {
  let sum = 0;
  const reads = 5;
  for (let i = 0; i < reads; i++) {
    const before = performance.now();
    const mono = now();
    const after = performance.now();
    sum += mono - (before + after) / 2;
  }
  return sum / reads;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Rejects with `what` once `ms` have passed. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `task` over `items` with at most `concurrency` at once. */
export async function pool<T, R>(items: T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
