// Entry point of the throwaway process that extract.ts forks for each file.
// It hosts the parsing worker thread (worker.ts) and watches it. The process
// exists because a worker's heap limit is best-effort: some allocation shapes
// abort the whole process instead of ending the worker (nodejs/node#47224;
// it happened here with a 64 MB worker), and then only this process dies.
import { Worker } from 'node:worker_threads';
import type { ExtractionErrorCode } from './types.ts';
import type { WorkerInput, WorkerMessage } from './worker.ts';

export type SandboxAnswer =
  | Extract<WorkerMessage, { kind: 'done' | 'passages' | 'pages' }>
  | { kind: 'failed'; code: ExtractionErrorCode; message: string }
  /** Out of memory: extract.ts words the message, it knows the limits. */
  | { kind: 'too-complex' }
  /** Our code, not the file, failed: a deployment problem. */
  | { kind: 'broken'; message: string };

const WORKER_URL = new URL('./worker.ts', import.meta.url);

// Inflating runs at a few hundred MB/s, so the overshoot past the limit stays small.
const MEMORY_POLL_MS = 50;

// Without a parent nobody enforces the deadline any more.
process.on('disconnect', () => process.exit(1));
process.once('message', async (input: WorkerInput) => {
  const answer = await runWorker(input);
  process.send!(answer, () => process.exit(0));
});

function runWorker(input: WorkerInput): Promise<SandboxAnswer> {
  const maxMemoryMb = input.limits.maxMemoryMb;
  return new Promise((resolve) => {
    const worker = new Worker(WORKER_URL, {
      workerData: input,
      resourceLimits: { maxOldGenerationSizeMb: maxMemoryMb },
    });
    let started = false;
    let settled = false;
    const finish = (answer: SandboxAnswer) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      resolve(answer);
      void worker.terminate();
    };
    const watchdog = watchExternalMemory(worker, maxMemoryMb, () => finish({ kind: 'too-complex' }));

    worker.on('message', (message: WorkerMessage) => {
      if (message.kind === 'started') started = true;
      else finish(message);
    });
    worker.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') return finish({ kind: 'too-complex' });
      // Before 'started' the worker's own modules failed to load.
      if (!started) return finish({ kind: 'broken', message: error.stack ?? error.message });
      finish({
        kind: 'failed',
        code: 'UNREADABLE',
        message: `The file could not be read; it may be damaged (${error.message}).`,
      });
    });
    worker.on('exit', (code) => finish({ kind: 'broken', message: `The parsing worker stopped (exit code ${code}) without an answer.` }));
  });
}

/**
 * resourceLimits caps only the JS heap. Decoded PDF streams and inflated ZIP
 * entries live in ArrayBuffers outside it (a 1 MB PDF whose content stream
 * inflates to 1 GB took the process past 2 GB), so the worker's external
 * memory is polled from this thread; V8 answers even while the worker is
 * stuck in synchronous code.
 */
function watchExternalMemory(worker: Worker, maxMb: number, onExceeded: () => void): NodeJS.Timeout {
  return setInterval(() => {
    worker.getHeapStatistics().then(
      (stats) => {
        if (stats.external_memory > maxMb * 1024 * 1024) onExceeded();
      },
      () => {}, // not running (yet, or any more): 'exit' reports that
    );
  }, MEMORY_POLL_MS);
}
