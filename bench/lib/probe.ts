// Preloaded into a gateway under test (node --import bench/lib/probe.ts) when
// it was started with an IPC channel: answers the benchmark's requests for the
// process's memory use, after a full garbage collection when --expose-gc is on.
// It adds nothing else to the process.
import { getHeapSpaceStatistics } from 'node:v8';

type Ask = { type: 'memory'; id: number; gc?: boolean };

if (process.send) {
  process.on('message', (message: Ask) => {
    if (message?.type !== 'memory') return;
    const gc = (globalThis as { gc?: () => void }).gc;
    if (message.gc && gc) {
      // Twice: the first pass may leave objects that only the second can free (weak references).
      gc();
      gc();
    }
    // Committed size of each V8 heap space: tells live objects from room V8 keeps (a grown young generation).
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((space) => [space.space_name, { size: space.space_size, used: space.space_used_size }]));
    process.send!({ type: 'memory', id: message.id, usage: process.memoryUsage(), spaces, gc: Boolean(message.gc && gc) });
  });
  // The channel must not keep a gateway alive that is otherwise done.
  process.channel?.unref();
}
