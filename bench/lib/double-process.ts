// Child-process entry: the Ollama test double (test/utils/ollama-double.ts) on
// its own process, so that neither the gateway nor the clients share its
// thread. It replies with a fixed number of tokens at a fixed pace and hands
// its timings to the benchmark over IPC, converted to the machine-wide
// monotonic clock (see clock.ts).
import { startOllamaDouble } from '../../test/utils/ollama-double.ts';
import { performanceOffset } from './clock.ts';

export type DoubleConfig = { tokens: number; tokenDelayMs: number };

/** One /api/chat request as the double saw it, on the shared clock (ms). */
export type ChatRecord = {
  user: string;
  receivedAt: number;
  /** When each content chunk was handed to the socket. */
  chunks: number[];
  /** When the response ended (after the final `done` line, which comes one token delay after the last chunk). */
  endedAt: number;
  aborted: boolean;
};

export type DoubleRequest = { type: 'configure'; id: number; config: DoubleConfig } | { type: 'drain'; id: number } | { type: 'close'; id: number };

let tokens = 16;
const reply = () => Array.from({ length: tokens }, (_, i) => ` tok${i}`).join('');
const double = await startOllamaDouble({ reply, tokenDelayMs: 20 });

// The double records when each chunk left but not when the response ended: note it as each request settles.
const endedAt = new WeakMap<object, number>();
const push = double.requests.push.bind(double.requests);
double.requests.push = (...records) => {
  for (const record of records) void record.settled.then(() => endedAt.set(record, performance.now()));
  return push(...records);
};

process.on('message', async (message: DoubleRequest) => {
  switch (message.type) {
    case 'configure':
      tokens = message.config.tokens;
      double.setBehavior({ tokenDelayMs: message.config.tokenDelayMs });
      return process.send!({ id: message.id });
    case 'drain': {
      const offset = performanceOffset();
      const chats: ChatRecord[] = double.requests
        .splice(0)
        .filter((request) => request.path === '/api/chat')
        .map((request) => {
          const messages = ((request.body as { messages?: Array<{ role: string; content: string }> } | null)?.messages ?? []);
          return {
            user: messages.findLast((m) => m.role === 'user')?.content ?? '',
            receivedAt: request.receivedAt.perfNow + offset,
            chunks: request.chunks.map((chunk) => chunk.perfNow + offset),
            endedAt: (endedAt.get(request) ?? Number.NaN) + offset,
            aborted: request.aborted,
          };
        });
      return process.send!({ id: message.id, chats });
    }
    case 'close':
      await double.close();
      process.send!({ id: message.id });
      process.exit(0);
  }
});
// Without the benchmark (its IPC channel gone), there is no reason to live.
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready', url: double.url });
