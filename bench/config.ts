// Sizes of every section, full and smoke. A full run takes a few minutes on 2
// cores; a smoke run exercises every code path in well under a minute.
/**
 * One load level of the messages section. `chats` slots run at once; each sends `rounds` chats
 * one after the other (a closed loop: a finished chat is followed by the next, as users keep
 * chatting). `staggered`: the slots start spread over one reply's duration, so that arrivals are
 * spread out as with real users; otherwise they all send at the same instant (a burst). Rounds
 * before `measureFrom` only ramp up and are not measured.
 */
export type MessageLevel = {
  key: string;
  label: string;
  chats: number;
  rounds: number;
  tokens: number;
  staggered: boolean;
  measureFrom: number;
  /** The targets that apply at this level (ms). */
  targets?: { preGenerationP50?: number; relayP50?: number; relayP99?: number };
  /**
   * Overrides the section's pace between tokens. 0: the model answers at once, so chats/s is what
   * the gateways can carry rather than what the model's pace allows (scaleout's scaling ratio).
   */
  tokenDelayMs?: number;
};

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
    tokenDelayMs: number;
    levels: MessageLevel[];
    /** Chats per surface before measuring (10 at a time). */
    warmupChats: number;
    /** Idle sessionEvents subscriptions opened to measure memory per stream. */
    openStreams: number;
    levelTimeoutMs: number;
  };
  startup: {
    assistants: number;
    sessions: number;
    messagesPerSession: number;
  };
  rewrite: {
    /** Questions sent to each of the two assistants (rewrite off, on), one at a time. */
    messages: number;
    /** Tokens of every reply of the double, the rewrite's included, and their pace. */
    tokens: number;
    tokenDelayMs: number;
  };
  serving: {
    /** Text files uploaded at once by one organization. */
    files: number;
    fileMb: number;
    /** Sampling of the idle gateway before the uploads. */
    idleSeconds: number;
    /** Each probe waits this long after an answer before its next request. */
    pauseMs: number;
    /** Ingestion that takes longer fails the run. */
    timeoutMs: number;
  };
  scaleout: {
    /** Gateway instances on one PostgreSQL and one Redis, measured with 1, 2, ... up to this many. */
    instances: number;
    /** autocannon connections, dealt out over the instances in turn: a multiple of 1, 2 and 3. */
    connections: number;
    /** Load before each instance count is measured (0: none), so that new instances are warm. */
    warmupSeconds: number;
    durationSeconds: number;
    assistants: number;
    tokenDelayMs: number;
    /** Chat levels run at every instance count; chat i goes to instance i mod N. */
    levels: MessageLevel[];
    kill: {
      /** The reply cut by kill -9: long enough to outlive the kill by seconds. */
      tokens: number;
      tokenDelayMs: number;
      /** Tokens the client has received when its instance is killed (past the first save, a second in). */
      killAfterTokens: number;
      /** How long the survivors are watched after the kill. */
      watchAfterMs: number;
      /**
       * Waits for a surviving instance to mark the killed reply incomplete: up to the 45 s
       * staleness window plus one 30 s sweep. Too long for a smoke run, which checks the reply
       * is left streaming with its content so far instead.
       */
      awaitIncomplete: boolean;
    };
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
      durationSeconds: smoke ? 1 : 6,
      assistants: 20,
    },
    messages: {
      tokenDelayMs: smoke ? 5 : 20,
      levels: smoke
        ? [
            { key: 'c1', label: '1 chat', chats: 1, rounds: 2, tokens: 4, staggered: true, measureFrom: 0, targets: { preGenerationP50: 15, relayP50: 1 } },
            { key: 'c4', label: '4 concurrent', chats: 4, rounds: 2, tokens: 4, staggered: true, measureFrom: 1 },
            { key: 'burst4', label: '4 sent at once', chats: 4, rounds: 1, tokens: 4, staggered: false, measureFrom: 0 },
          ]
        : [
            { key: 'c1', label: '1 chat', chats: 1, rounds: 5, tokens: 32, staggered: true, measureFrom: 0, targets: { preGenerationP50: 15, relayP50: 1 } },
            { key: 'c10', label: '10 concurrent', chats: 10, rounds: 3, tokens: 32, staggered: true, measureFrom: 1 },
            // 120 tokens 20 ms apart: a 2.4 s reply, so 100 chats start ~40 times a second.
            { key: 'c100', label: '100 concurrent', chats: 100, rounds: 2, tokens: 120, staggered: true, measureFrom: 1, targets: { relayP99: 5 } },
            { key: 'burst100', label: '100 sent at once', chats: 100, rounds: 1, tokens: 16, staggered: false, measureFrom: 0 },
          ],
      warmupChats: smoke ? 2 : 20,
      openStreams: smoke ? 20 : 1000,
      levelTimeoutMs: 120_000,
    },
    startup: {
      assistants: 20,
      sessions: smoke ? 2 : 50,
      messagesPerSession: smoke ? 1 : 2,
    },
    rewrite: {
      messages: smoke ? 2 : 20,
      // A rewrite is a line of terms: about a dozen tokens.
      tokens: 12,
      tokenDelayMs: smoke ? 5 : 20,
    },
    serving: {
      files: smoke ? 2 : 6,
      fileMb: smoke ? 0.25 : 19,
      idleSeconds: smoke ? 1 : 5,
      pauseMs: 20,
      timeoutMs: smoke ? 60_000 : 600_000,
    },
    scaleout: {
      instances: 3,
      connections: smoke ? 6 : 30,
      warmupSeconds: smoke ? 0 : 2,
      durationSeconds: smoke ? 1 : 5,
      assistants: 20,
      tokenDelayMs: smoke ? 5 : 20,
      levels: smoke
        ? [
            { key: 'c4', label: '4 concurrent', chats: 4, rounds: 2, tokens: 4, staggered: true, measureFrom: 1 },
            { key: 'c4max', label: '4 concurrent, unpaced', chats: 4, rounds: 2, tokens: 4, staggered: false, measureFrom: 1, tokenDelayMs: 0 },
          ]
        : [
            { key: 'c10', label: '10 concurrent', chats: 10, rounds: 3, tokens: 32, staggered: true, measureFrom: 1 },
            { key: 'c50', label: '50 concurrent', chats: 50, rounds: 3, tokens: 32, staggered: true, measureFrom: 1 },
            // As many chats as the instances carry: 50 at a time, each sent as soon as the last ended.
            { key: 'c50max', label: '50 concurrent, unpaced', chats: 50, rounds: 6, tokens: 32, staggered: false, measureFrom: 1, tokenDelayMs: 0 },
          ],
      kill: smoke
        ? { tokens: 100, tokenDelayMs: 20, killAfterTokens: 60, watchAfterMs: 500, awaitIncomplete: false }
        : { tokens: 200, tokenDelayMs: 25, killAfterTokens: 60, watchAfterMs: 2_000, awaitIncomplete: true },
    },
  };
}
