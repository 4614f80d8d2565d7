// Bounds the replies one instance generates at once (MAX_CONCURRENT_GENERATIONS).
// Requests beyond the bound wait in a bounded queue (GENERATION_QUEUE_SIZE), in
// arrival order; past it they are refused at once with 503 and Retry-After,
// since a local model serves a handful of replies at a time at best.
import { AppError } from '../errors.ts';

/** Suggested wait before retrying a refused request, in seconds. */
const RETRY_AFTER_SECONDS = 5;

export type GenerationSlots = {
  /**
   * Takes a slot or a place in the queue at once, and resolves when the slot is
   * free; the returned function frees it (call it exactly once). Throws
   * OVERLOADED synchronously when the queue is full, so a caller can refuse a
   * request before doing anything for it.
   */
  acquire(signal?: AbortSignal): Promise<() => void>;
  readonly active: number;
  readonly waiting: number;
};

export function createGenerationSlots({ concurrency, queueSize }: { concurrency: number; queueSize: number }): GenerationSlots {
  let active = 0;
  const queue: Array<{ grant: () => void }> = [];

  function release() {
    const next = queue.shift();
    if (next) next.grant();
    else active--;
  }

  const once = () => {
    let released = false;
    return () => {
      if (!released) {
        released = true;
        release();
      }
    };
  };

  return {
    get active() {
      return active;
    },
    get waiting() {
      return queue.length;
    },
    acquire(signal) {
      if (active < concurrency) {
        active++;
        return Promise.resolve(once());
      }
      if (queue.length >= queueSize) {
        throw new AppError('OVERLOADED', `All ${concurrency} reply slots and ${queueSize} queue places are taken; retry in a few seconds.`, {
          retryAfter: RETRY_AFTER_SECONDS,
        });
      }
      return new Promise((resolve, reject) => {
        // A slot handed over by release() keeps `active` unchanged: it passes from one request to the next.
        const onAbort = () => {
          const index = queue.indexOf(entry);
          if (index !== -1) {
            queue.splice(index, 1);
            reject(signal!.reason);
          }
        };
        // The listener goes once the slot is granted: a long-lived signal (a WebSocket) must not collect them.
        const entry = {
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve(once());
          },
        };
        queue.push(entry);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}
