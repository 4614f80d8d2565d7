// Sizes of every section, full and smoke. A full run takes a few minutes on 2
// cores; a smoke run exercises every code path in well under a minute.
export type BenchConfig = {
  smoke: boolean;
  runs: number;
  /** Writes CPU profiles of the gateways under test into this folder. */
  cpuProfDir?: string;
  gateway: {
    connections: number;
    /** 0 skips the warm-up (smoke: the point is to exercise the code, not to measure). */
    warmupSeconds: number;
    durationSeconds: number;
    assistants: number;
  };
  messages: {
    tokens: number;
    tokenDelayMs: number;
    /** Concurrent chats, and how many waves of them each run sends. */
    levels: Array<{ chats: number; waves: number }>;
    warmupChats: number;
    /** Idle sessionEvents subscriptions opened to measure memory per stream. */
    openStreams: number;
    waveTimeoutMs: number;
  };
  startup: {
    assistants: number;
    sessions: number;
    messagesPerSession: number;
  };
};

export function benchConfig(options: { smoke: boolean; runs?: number; cpuProfDir?: string }): BenchConfig {
  const { smoke } = options;
  return {
    smoke,
    runs: options.runs ?? (smoke ? 1 : 3),
    cpuProfDir: options.cpuProfDir,
    gateway: {
      connections: smoke ? 8 : 32,
      warmupSeconds: smoke ? 0 : 3,
      durationSeconds: smoke ? 1 : 8,
      assistants: 20,
    },
    messages: {
      tokens: smoke ? 4 : 16,
      tokenDelayMs: smoke ? 5 : 20,
      levels: smoke
        ? [
            { chats: 1, waves: 2 },
            { chats: 4, waves: 1 },
          ]
        : [
            { chats: 1, waves: 12 },
            { chats: 10, waves: 4 },
            { chats: 100, waves: 1 },
          ],
      warmupChats: smoke ? 2 : 20,
      openStreams: smoke ? 20 : 1000,
      waveTimeoutMs: 60_000,
    },
    startup: {
      assistants: 20,
      sessions: smoke ? 2 : 50,
      messagesPerSession: smoke ? 1 : 2,
    },
  };
}
