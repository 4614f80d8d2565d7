// Both ends of the embedded database's thread send their messages in batches
// (./pglite-in-worker.ts its requests, ./pglite-worker.ts its answers).

/**
 * Posts `batch` as one message. When it cannot be copied to the other thread (a
 * value that does not clone), each item goes alone, and the one that cannot be
 * copied is handed to `uncopyable`, so that it fails alone and the others still go.
 */
export function postBatch<T>(port: { postMessage(value: unknown): void }, batch: T[], uncopyable: (item: T, error: unknown) => void) {
  try {
    port.postMessage(batch);
    return;
  } catch {
    // One of them, below.
  }
  for (const item of batch) {
    try {
      port.postMessage([item]);
    } catch (error) {
      uncopyable(item, error);
    }
  }
}
