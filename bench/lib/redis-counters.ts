// What Redis itself counted while something ran: the commands it executed (INFO
// commandstats), read before and after, so that "Redis round trips per request" is the
// server's figure, not what our code believes it sends. Each command is at most one round
// trip (a pipeline or MULTI sends several in one), and commands run inside a Lua script
// count each, with no round trip of their own. Round trips themselves are counted apart, on a
// few requests outside any timing, by watching what the gateways' connections send (MONITOR).
//
// The Redis may be shared with other work on the machine, and its counters are server-wide.
// The benchmark's processes name their connections (`?connectionName=` in REDIS_URL, which
// ioredis reads): a window in which a client of another name ran a command, or a new
// connection arrived, is reported as disturbed rather than silently counted.
import { Redis } from 'ioredis';

/** The benchmark's own reads of the counters, left out of what is counted. */
const OWN_COMMANDS = new Set(['info', 'client|list']);

export type RedisWindow = {
  /** Commands executed in the window, the benchmark's own reads left out. */
  commands: number;
  /** The same, per command (lower case, Redis's names: evalsha, publish, rpush...). */
  byCommand: Record<string, number>;
  /** Why the count may include other clients' commands; empty when it cannot. */
  disturbed: string[];
};

/** What this run's gateways sent, as MONITOR shows it: one line per command received, script-inner ones marked "lua". */
export type RedisTrips = {
  /** Commands the gateways sent (each is one round trip at most), per command. */
  sent: Record<string, number>;
  total: number;
  /** Commands run inside Lua scripts meanwhile (which commandstats counts too): no round trip of their own. */
  inScripts: number;
};

export type RedisCounters = {
  /** Starts counting; `stop()` reads the counters again. */
  window(): Promise<{ stop(): Promise<RedisWindow> }>;
  /**
   * Runs `task` while watching every command Redis receives (MONITOR, which costs Redis time:
   * never while measuring speed) and returns those sent by connections named `<ours>-gateway…`.
   */
  roundTrips<T>(task: () => Promise<T>): Promise<{ result: T; trips: RedisTrips }>;
  /** Deletes the keys matching any of the patterns (SCAN MATCH) and the named keys; returns how many went. */
  removeKeys(patterns: string[], keys: string[]): Promise<number>;
  close(): Promise<void>;
};

/** `ours`: the prefix of every connection name the benchmark's processes use on this Redis. */
export async function redisCounters(url: string, ours: string): Promise<RedisCounters> {
  const redis = new Redis(url, { connectionName: `${ours}-counters`, maxRetriesPerRequest: 2 });
  try {
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    throw new Error(`No Redis answers at ${url}: ${error instanceof Error ? error.message : error}`);
  }

  async function counts(): Promise<Map<string, number>> {
    const text = await redis.info('commandstats');
    return new Map([...text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((match) => [match[1], Number(match[2])]));
  }

  async function connectionsReceived(): Promise<number> {
    return Number(/total_connections_received:(\d+)/.exec(await redis.info('stats'))?.[1]);
  }

  async function clients(): Promise<Array<Record<string, string>>> {
    const list = (await redis.client('LIST')) as string;
    return list
      .split('\n')
      .filter(Boolean)
      .map((line) => Object.fromEntries(line.split(' ').map((field) => [field.slice(0, field.indexOf('=')), field.slice(field.indexOf('=') + 1)])));
  }

  /** Other clients that ran a command in the last `seconds` (CLIENT LIST's idle is in whole seconds). */
  async function othersActive(seconds: number): Promise<string[]> {
    return (await clients())
      .filter((client) => !client.name?.startsWith(ours) && Number(client.idle) <= seconds)
      .map((client) => `${client.addr} (${client.name || 'unnamed'}, last ${client.cmd})`);
  }

  return {
    async window() {
      const before = await counts();
      const connections = await connectionsReceived();
      const started = Date.now();
      return {
        async stop() {
          const after = await counts();
          const byCommand: Record<string, number> = {};
          let commands = 0;
          for (const [name, calls] of after) {
            const delta = calls - (before.get(name) ?? 0);
            if (delta <= 0 || OWN_COMMANDS.has(name)) continue;
            byCommand[name] = delta;
            commands += delta;
          }
          const disturbed = await othersActive(Math.ceil((Date.now() - started) / 1000));
          const arrived = (await connectionsReceived()) - connections;
          if (arrived > 0) disturbed.push(`${arrived} new connection${arrived > 1 ? 's' : ''}`);
          return { commands, byCommand, disturbed };
        },
      };
    },
    async roundTrips(task) {
      const gateways = new Set((await clients()).filter((client) => client.name?.startsWith(`${ours}-gateway`)).map((client) => client.addr));
      const monitor = await redis.monitor();
      const trips: RedisTrips = { sent: {}, total: 0, inScripts: 0 };
      const marker = `${ours}-end-${Date.now()}`;
      let seenEnd!: () => void;
      const ended = new Promise<void>((resolve) => (seenEnd = resolve));
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source === 'lua') trips.inScripts++;
        else if (gateways.has(source)) {
          const name = args[0].toLowerCase();
          trips.sent[name] = (trips.sent[name] ?? 0) + 1;
          trips.total++;
        } else if (args[0].toLowerCase() === 'echo' && args[1] === marker) seenEnd();
      });
      try {
        const result = await task();
        // Monitor lines come on their own connection: once this marker is seen, every command sent before it was.
        await redis.echo(marker);
        await ended;
        return { result, trips };
      } finally {
        monitor.disconnect();
      }
    },
    async removeKeys(patterns, keys) {
      const found = new Set(keys);
      for (const pattern of patterns) {
        for await (const batch of redis.scanStream({ match: pattern, count: 1000 }) as AsyncIterable<string[]>) for (const key of batch) found.add(key);
      }
      let removed = 0;
      const all = [...found];
      for (let i = 0; i < all.length; i += 500) removed += await redis.unlink(...all.slice(i, i + 500));
      return removed;
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
