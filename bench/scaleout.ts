// Scale-out: the gateway as a deployment runs it on several instances, each its own process
// (`node src/server.ts`) on one PostgreSQL database (a throwaway schema, dropped at the end)
// and one Redis (the run's keys removed at the end), with 1, 2 and 3 instances:
//   - REST list throughput (GET /api/v1/assistants/, 20 rows) and p50/p99, and the scaling
//     ratio throughput(N) / throughput(1), taken within one run;
//   - REST SSE chats at 10 and 50 concurrent (the Ollama double in its own process, as the
//     messages section): relay p50/p99, pre-generation p50 and chats/s; paced by the model, their
//     chats/s stay what the pace allows whatever N is, so the chats' scaling ratio is taken on 50
//     concurrent chats whose tokens come at once, each chat sent as soon as the last ended;
//   - Redis commands per request and per chat, counted by Redis itself (lib/redis-counters.ts),
//     and round trips, the commands the gateways' connections send (MONITOR, after the timed runs);
//   - kill -9 of instance 2 while it streams a reply: instance 1's clients keep being served,
//     and a surviving instance marks the cut reply incomplete once its row has gone stale
//     (45 s without a save, looked for every 30 s: src/services/streaming-replies.ts).
// Round-robin in front is the load generator itself: one autocannon process deals its
// connections out over the instances' URLs in turn (connection i to instance i mod N), and
// chat i goes to instance i mod N. No proxy hop is added, and the load generator costs the
// same CPU whatever N is; what it does not model is a balancer's own cost or per-request
// balancing (each keep-alive connection stays on its instance, as behind an L4 balancer).
// The machine has 2 cores for the instances, PostgreSQL, Redis, the double and the clients:
// each figure's log line gives the share of the machine that was busy.
import type { BenchConfig, MessageLevel } from './config.ts';
import { tempDir } from './lib/children.ts';
import { now, pool, sleep, withTimeout } from './lib/clock.ts';
import { load } from './lib/autocannon.ts';
import { machineCpuMeter } from './lib/cpu.ts';
import { startDouble, type Double } from './lib/double.ts';
import { FigureSet, type Figure } from './lib/figures.ts';
import { cli, startGateway, type Gateway } from './lib/gateway-process.ts';
import { authHeaders, http, postEventStream, type Auth } from './lib/http.ts';
import { redisCounters, type RedisCounters, type RedisWindow } from './lib/redis-counters.ts';
import { chatSamples, sseChat, type SseChat } from './lib/sse-chat.ts';
import { percentile } from './lib/stats.ts';
import { createPostgresAdapterFactory } from '../src/db/database.ts';
import { STALE_AFTER_MS } from '../src/services/streaming-replies.ts';
import { POSTGRES_URL, REDIS_URL, throwawaySchema } from '../test/utils/postgres.ts';
import { createBenchmarkAssistant } from './lib/assistants.ts';

/** A killed instance's reply goes stale after STALE_AFTER_MS; survivors look every 30 s (SWEEP_INTERVAL_MS there); a margin for a loaded machine. */
const MARKED_WITHIN_MS = STALE_AFTER_MS + 30_000 + 15_000;

type Cluster = {
  config: BenchConfig;
  log: (line: string) => void;
  databaseUrl: string;
  /** Prefix of the connection names of this run's processes on Redis. */
  redisName: string;
  redis: RedisCounters;
  double: Double;
  auth: Auth;
  instances: Gateway[];
  figures: FigureSet;
  /** Windows whose Redis counts other clients may have added to. */
  disturbed: number;
};

export async function scaleoutSection(config: BenchConfig, log: (line: string) => void): Promise<Figure[]> {
  const schema = await throwawaySchema('bench_scaleout');
  const redisName = `bench-scaleout-${process.pid}`;
  const redis = await redisCounters(REDIS_URL, redisName);
  let double: Double | undefined;
  let organizationId: string | undefined;
  const instances: Gateway[] = [];
  try {
    double = await startDouble();
    // The organization is made by the CLI on the database, as an operator would, so that no
    // instance creates a first one of its own.
    const cliFolder = tempDir('scaleout-cli');
    const org = await cli(cliFolder.dir, ['org', 'create', '--name', 'Scale-out benchmark', '--rate-limit', '1000000000'], { DATABASE_URL: schema.url }).catch((error) => {
      throw new Error(`Creating the organization on PostgreSQL (${POSTGRES_URL}, TEST_DATABASE_URL) failed: ${error instanceof Error ? error.message : error}`);
    });
    organizationId = org.organization_id as string;
    const cluster: Cluster = {
      config,
      log,
      databaseUrl: schema.url,
      redisName,
      redis,
      double,
      auth: { clientId: org.client_id, clientSecret: org.client_secret },
      instances,
      figures: new FigureSet('scaleout'),
      disturbed: 0,
    };
    await resize(cluster, 1);
    const assistantIds = await pool(Array.from({ length: config.scaleout.assistants }, (_, i) => i), 4, (i) => createBenchmarkAssistant(cluster.instances[0].url, cluster.auth, i));
    await checkList(cluster, config.scaleout.assistants);

    for (let run = 1; run <= config.runs; run++) {
      const listRps: number[] = [];
      const chatRates = new Map<string, number[]>();
      for (let n = 1; n <= config.scaleout.instances; n++) {
        await resize(cluster, n);
        await warmUp(cluster, assistantIds[0]);
        listRps.push(await measureList(cluster, run, n));
        for (const level of config.scaleout.levels) {
          const rate = await measureChats(cluster, run, n, level, assistantIds[0]);
          chatRates.set(level.key, [...(chatRates.get(level.key) ?? []), rate]);
        }
        if (run === 1 && n === config.scaleout.instances) await countRoundTrips(cluster, assistantIds[0]);
      }
      for (let n = 2; n <= config.scaleout.instances; n++) {
        cluster.figures.add(`n${n}.list.scaling`, `REST list, ${n} instances: scaling ratio (throughput / 1 instance's)`, '×', listRps[n - 1] / listRps[0]);
        for (const level of config.scaleout.levels.filter((unpaced) => unpaced.tokenDelayMs === 0)) {
          const rates = chatRates.get(level.key)!;
          cluster.figures.add(`n${n}.${level.key}.scaling`, `SSE chats ${level.label}, ${n} instances: scaling ratio (chats/s / 1 instance's)`, '×', rates[n - 1] / rates[0]);
        }
      }
    }

    await killTest(cluster, assistantIds[0]);
    cluster.figures.add('redis.disturbed', 'Redis counts other clients may have added to (0: every count is this run alone)', 'windows', cluster.disturbed);
    return cluster.figures.list();
  } finally {
    await Promise.allSettled(instances.map((instance) => instance.stop()));
    await double?.close();
    const removed = await removeRunKeys(redis, schema.url, organizationId).catch((error) => {
      log(`could not remove this run's Redis keys: ${error instanceof Error ? error.message : error}`);
      return 0;
    });
    await redis.close();
    const dropped = await schema.drop().then(
      () => true,
      (error) => log(`could not drop this run's PostgreSQL schema: ${error instanceof Error ? error.message : error}`),
    );
    if (dropped) log(`removed ${removed} Redis keys of this run and its PostgreSQL schema`);
  }
}

/** Starts or stops instances until `n` run. Each has its own empty DATA_DIR: with DATABASE_URL nothing is kept there. */
async function resize(cluster: Cluster, n: number) {
  while (cluster.instances.length > n) await cluster.instances.pop()!.stop();
  while (cluster.instances.length < n) {
    const number = cluster.instances.length + 1;
    const data = tempDir(`scaleout-${number}`);
    cluster.instances.push(
      await startGateway({
        label: `gateway ${number}`,
        dataDir: data.dir,
        ollamaHost: cluster.double.url,
        firstStart: false,
        cpuProfDir: cluster.config.cpuProfDir,
        env: {
          DATABASE_URL: cluster.databaseUrl,
          // Redis's client list then tells this run's connections from others'.
          REDIS_URL: named(REDIS_URL, `${cluster.redisName}-gateway-${number}`),
          MAX_CONCURRENT_GENERATIONS: '1000',
          GENERATION_QUEUE_SIZE: '1000',
        },
      }),
    );
  }
}

/** A Redis URL whose connections carry this name (ioredis reads connectionName from the query). */
function named(redisUrl: string, name: string): string {
  const url = new URL(redisUrl);
  url.searchParams.set('connectionName', name);
  return url.toString();
}

/** The list measured is the one asked for: 20 rows. */
async function checkList(cluster: Cluster, rows: number) {
  const reply = await http('GET', `${cluster.instances[0].url}/api/v1/assistants/`, { auth: cluster.auth });
  if (reply.status !== 200 || reply.body?.data?.items?.length !== rows) throw new Error(`The REST list answered ${reply.status} with ${reply.body?.data?.items?.length} rows, not ${rows}.`);
}

async function warmUp(cluster: Cluster, assistantId: string) {
  const { warmupSeconds, connections } = cluster.config.scaleout;
  if (warmupSeconds === 0) return;
  const urls = cluster.instances.map((instance) => `${instance.url}/api/v1/assistants/`);
  await load({ name: 'REST list (warm-up)', url: urls[0], urls, headers: authHeaders(cluster.auth) }, connections, warmupSeconds);
  const warm: MessageLevel = { key: 'warmup', label: 'warm-up', chats: 2 * cluster.instances.length, rounds: 2, tokens: 8, staggered: false, measureFrom: 0 };
  await runChats(cluster, warm, await createSessions(cluster, assistantId, warm.chats * warm.rounds), 'warmup');
}

/** Counts what Redis did meanwhile; a window other clients were active in is logged and counted as disturbed. */
async function redisWindow<T>(cluster: Cluster, what: string, task: () => Promise<T>): Promise<{ result: T; redis: RedisWindow }> {
  const window = await cluster.redis.window();
  const result = await task();
  const redis = await window.stop();
  if (redis.disturbed.length > 0) {
    cluster.disturbed++;
    cluster.log(`warning: other Redis clients were active during ${what}, its Redis count may include theirs: ${redis.disturbed.join(', ')}`);
  }
  return { result, redis };
}

/** "evalsha 1.00, publish 0.50": each command's count per request or chat, most frequent first. */
const describeCommands = (byCommand: Record<string, number>, per: number) =>
  Object.entries(byCommand)
    .sort((a, b) => b[1] - a[1])
    .map(([name, calls]) => `${name} ${(calls / per).toFixed(2)}`)
    .join(', ') || 'none';

async function measureList(cluster: Cluster, run: number, n: number): Promise<number> {
  const { connections, durationSeconds } = cluster.config.scaleout;
  const urls = cluster.instances.map((instance) => `${instance.url}/api/v1/assistants/`);
  const servedBefore = await served(cluster.instances);
  const cpu = machineCpuMeter();
  const { result, redis } = await redisWindow(cluster, `the REST list over ${n}`, () =>
    load({ name: `REST list over ${n} instance${n > 1 ? 's' : ''}`, url: urls[0], urls, headers: authHeaders(cluster.auth) }, connections, durationSeconds),
  );
  const busy = cpu.stop();
  const share = (await served(cluster.instances)).map((count, i) => count - servedBefore[i]);
  // Every request sent was charged to the rate limit, answered before the end or not.
  const perRequest = redis.commands / result.sent;
  const label = `REST list (20 rows), ${n} instance${n > 1 ? 's' : ''}`;
  cluster.figures.add(`n${n}.list.rps`, `${label}: throughput`, 'req/s', result.rps);
  cluster.figures.add(`n${n}.list.p50`, `${label}: latency p50`, 'ms', result.latency.p50);
  cluster.figures.add(`n${n}.list.p99`, `${label}: latency p99`, 'ms', result.latency.p99);
  cluster.figures.add(`n${n}.list.redis`, `${label}: Redis commands per request`, 'commands', perRequest);
  cluster.figures.add(`n${n}.list.cpu`, `${label}: machine busy (all cores)`, 'share', busy);
  if (n > 1) cluster.figures.add(`n${n}.list.busiest`, `${label}: busiest instance's share of the requests (even: ${(1 / n).toFixed(2)})`, 'share', Math.max(...share) / share.reduce((a, b) => a + b, 0));
  cluster.log(
    `run ${run}: ${label}: ${result.rps.toFixed(0)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms; ` +
      `answered per instance ${share.join(' / ')}; Redis ${perRequest.toFixed(2)} commands/request (${describeCommands(redis.byCommand, result.sent)}); machine ${(busy * 100).toFixed(0)}% busy`,
  );
  return result.rps;
}

/** Round trips are the same at every size: counted once, over every instance, on a few requests after the timed ones. */
const TRIP_REQUESTS = 30;
const TRIP_CHATS = 3;

async function countRoundTrips(cluster: Cluster, assistantId: string) {
  const { instances, auth, figures, log } = cluster;
  const list = await cluster.redis.roundTrips(async () => {
    for (let i = 0; i < TRIP_REQUESTS; i++) {
      const reply = await http('GET', `${instances[i % instances.length].url}/api/v1/assistants/`, { auth });
      if (reply.status !== 200) throw new Error(`The REST list answered ${reply.status}: ${reply.text.slice(0, 300)}`);
    }
  });
  figures.add('trips.list', 'REST list: Redis round trips per request (commands sent by the gateways)', 'trips', list.trips.total / TRIP_REQUESTS);
  log(`Redis round trips per REST list request: ${(list.trips.total / TRIP_REQUESTS).toFixed(2)} (${describeCommands(list.trips.sent, TRIP_REQUESTS)}; ${(list.trips.inScripts / TRIP_REQUESTS).toFixed(2)} more commands inside scripts)`);
  // Per chat they depend on its length, not on how many run at once.
  for (const tokens of new Set(cluster.config.scaleout.levels.map((level) => level.tokens))) {
    await cluster.double.configure({ tokens, tokenDelayMs: cluster.config.scaleout.tokenDelayMs });
    const sessions = await createSessions(cluster, assistantId, TRIP_CHATS);
    const chats = await cluster.redis.roundTrips(async () => {
      for (let i = 0; i < TRIP_CHATS; i++) await sseChat(instances[i % instances.length].url, auth, sessions[i], `bench scaleout trips ${tokens} ${i} ${Date.now()}`);
    });
    await cluster.double.drain();
    figures.add(`trips.chat${tokens}`, `SSE chat of ${tokens} tokens: Redis round trips per chat`, 'trips', chats.trips.total / TRIP_CHATS);
    log(`Redis round trips per SSE chat of ${tokens} tokens: ${(chats.trips.total / TRIP_CHATS).toFixed(1)} (${describeCommands(chats.trips.sent, TRIP_CHATS)}; ${(chats.trips.inScripts / TRIP_CHATS).toFixed(2)} more inside scripts)`);
  }
}

/** Requests each instance has answered so far, by its own count (gateway_http_requests_total on /metrics). */
async function served(instances: Gateway[]): Promise<number[]> {
  return Promise.all(
    instances.map(async (instance) => {
      const reply = await http('GET', `${instance.url}/metrics`);
      if (reply.status !== 200) throw new Error(`${instance.child.label}'s /metrics answered ${reply.status}.`);
      return [...reply.text.matchAll(/^gateway_http_requests_total\{[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    }),
  );
}

async function createSessions(cluster: Cluster, assistantId: string, count: number): Promise<string[]> {
  return pool(Array.from({ length: count }, (_, i) => i), 8, async (i) => {
    const reply = await http('POST', `${cluster.instances[0].url}/api/v1/sessions/`, {
      auth: cluster.auth,
      body: { assistant_id: assistantId, visitor_id: `bench-visitor-${i}`, locale: 'en' },
    });
    if (reply.status !== 201) throw new Error(`Creating a session answered ${reply.status}: ${reply.text}`);
    return reply.body.data.id as string;
  });
}

/**
 * `chats` slots, each sending `rounds` chats one after the other (each in a session of its own),
 * slot i through instance i mod N, started together or spread over one reply's duration, as in
 * the messages section. Returns every chat with its round.
 */
async function runChats(cluster: Cluster, level: MessageLevel, sessions: string[], name: string): Promise<Array<SseChat & { round: number }>> {
  const { chats, rounds, tokens } = level;
  const delay = level.tokenDelayMs ?? cluster.config.scaleout.tokenDelayMs;
  await cluster.double.configure({ tokens, tokenDelayMs: delay });
  const stamp = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const replyMs = tokens * delay;
  const done: Array<SseChat & { round: number }> = [];
  const slot = async (index: number) => {
    const instance = cluster.instances[index % cluster.instances.length];
    if (level.staggered && chats > 1) await sleep((index * replyMs) / chats);
    for (let round = 0; round < rounds; round++) {
      const tag = `bench scaleout ${name} ${level.key} ${index}.${round} ${stamp}`;
      done.push({ ...(await sseChat(instance.url, cluster.auth, sessions[index * rounds + round], tag)), round });
    }
  };
  await withTimeout(Promise.all(Array.from({ length: chats }, (_, index) => slot(index))), 120_000, `${level.label} over ${cluster.instances.length} instances`);
  return done;
}

/** Returns the chats completed per second in the measured rounds. */
async function measureChats(cluster: Cluster, run: number, n: number, level: MessageLevel, assistantId: string): Promise<number> {
  const sessions = await createSessions(cluster, assistantId, level.chats * level.rounds);
  await cluster.double.drain();
  const cpu = machineCpuMeter();
  const { result: chats, redis } = await redisWindow(cluster, `${level.label} over ${n}`, () => runChats(cluster, level, sessions, `r${run}n${n}`));
  const busy = cpu.stop();
  const records = await cluster.double.drain();
  // Every chat must have arrived whole, ramp-up included; only the later rounds are measured.
  chatSamples(chats, records, level.tokens);
  const measured = chats.filter((chat) => chat.round >= level.measureFrom);
  const { preGen, relay } = chatSamples(measured, records, level.tokens);
  const span = (Math.max(...measured.map((chat) => chat.done)) - Math.min(...measured.map((chat) => chat.t0))) / 1000;
  const rate = measured.length / span;
  const perChat = redis.commands / chats.length;
  const label = `SSE chats ${level.label}, ${n} instance${n > 1 ? 's' : ''}`;
  const key = `n${n}.${level.key}`;
  cluster.figures.add(`${key}.rate`, `${label}: chats completed`, 'chats/s', rate);
  cluster.figures.add(`${key}.relay.p50`, `${label}: per-token relay p50`, 'ms', percentile(relay, 50));
  cluster.figures.add(`${key}.relay.p99`, `${label}: per-token relay p99`, 'ms', percentile(relay, 99));
  cluster.figures.add(`${key}.pregen.p50`, `${label}: pre-generation p50`, 'ms', percentile(preGen, 50));
  cluster.figures.add(`${key}.redis`, `${label}: Redis commands per chat (${level.tokens} tokens)`, 'commands', perChat);
  cluster.log(
    `run ${run}: ${label}: ${rate.toFixed(1)} chats/s, relay p50 ${percentile(relay, 50).toFixed(2)} p99 ${percentile(relay, 99).toFixed(2)} ms, ` +
      `pre-generation p50 ${percentile(preGen, 50).toFixed(2)} ms; Redis ${perChat.toFixed(1)} commands/chat (${describeCommands(redis.byCommand, chats.length)}); machine ${(busy * 100).toFixed(0)}% busy`,
  );
  return rate;
}

/**
 * Instance 2 is killed (SIGKILL: no shutdown code runs) while it streams a reply. Meanwhile
 * instance 1 streams a reply of its own and answers a closed loop of list requests (20 ms
 * apart), before, during and after the kill. Then the cut reply, read through instance 1.
 */
async function killTest(cluster: Cluster, assistantId: string) {
  const { kill } = cluster.config.scaleout;
  const { figures, log, auth } = cluster;
  await resize(cluster, Math.max(2, cluster.instances.length));
  const [survivor, victim] = cluster.instances;
  await cluster.double.configure({ tokens: kill.tokens, tokenDelayMs: kill.tokenDelayMs });
  const [victimSession, survivorSession] = await createSessions(cluster, assistantId, 2);

  const probes: Array<{ at: number; ok: boolean; ms: number }> = [];
  let probing = true;
  const probeLoop = (async () => {
    while (probing) {
      const at = now();
      const ok = await http('GET', `${survivor.url}/api/v1/assistants/`, { auth, timeoutMs: 10_000 }).then((reply) => reply.status === 200, () => false);
      probes.push({ at, ok, ms: now() - at });
      await sleep(20);
    }
  })();

  let replyId = '';
  const received: Array<{ at: number; delta: string }> = [];
  // The victim's stream ends when its instance dies: a reset socket, not a failure of the benchmark.
  const cut = postEventStream(`${victim.url}/api/v1/sessions/${victimSession}/messages`, auth, { content: `bench scaleout kill ${Date.now()}` }, (event) => {
    if (event.event === 'start') replyId = JSON.parse(event.data).assistant_message.id;
    if (event.event === 'token') received.push({ at: event.at, delta: JSON.parse(event.data).delta });
  }).then(
    () => 'ended',
    () => 'cut',
  );
  const survivorChat = sseChat(survivor.url, auth, survivorSession, `bench scaleout survivor ${Date.now()}`).then(
    (chat) => chat.tokens.length === kill.tokens,
    (error) => {
      log(`the survivor's chat failed: ${error instanceof Error ? error.message : error}`);
      return false;
    },
  );

  await withTimeout(
    (async () => {
      while (received.length < kill.killAfterTokens) await sleep(5);
    })(),
    30_000,
    `The reply streamed through instance 2 reaching ${kill.killAfterTokens} tokens`,
  );
  const killedAt = now();
  victim.child.process.kill('SIGKILL');
  await victim.child.exited;
  cluster.instances.splice(cluster.instances.indexOf(victim), 1);
  const victimStream = await cut;
  const survivorChatWhole = await survivorChat;
  await sleep(kill.watchAfterMs);
  probing = false;
  await probeLoop;

  const during = probes.filter((probe) => probe.at >= killedAt);
  figures.add('kill.survivor_requests', "instance 1's list requests answered 200 during and after instance 2's kill -9 (share)", 'share', during.length ? during.filter((probe) => probe.ok).length / during.length : 0, { op: '>=', value: 1 });
  figures.add('kill.survivor_max', "instance 1's slowest list request during and after the kill", 'ms', Math.max(...during.map((probe) => probe.ms)));
  figures.add('kill.survivor_chat', "instance 1's reply streaming across the kill arrived whole (1 = held)", 'yes=1', survivorChatWhole ? 1 : 0, { op: '>=', value: 1 });

  // The cut reply, as stored: a prefix of what its client received, holding all it had 1.5 s before the kill (saves come about once a second).
  const readReply = async () => {
    const history = await http('GET', `${survivor.url}/api/v1/sessions/${victimSession}/messages`, { auth });
    return (history.body?.data?.items ?? []).find((message: { id: string }) => message.id === replyId) as { status: string; content: string } | undefined;
  };
  const text = received.map((token) => token.delta).join('');
  const surely = received.filter((token) => token.at < killedAt - 1_500).map((token) => token.delta).join('');
  let reply = await readReply();
  const streamingAfterKill = reply?.status === 'streaming';
  log(`instance 2 killed after ${received.length} tokens (its client's stream ${victimStream}); ${during.length} list requests to instance 1 since, ${during.filter((p) => !p.ok).length} failed; the cut reply is ${reply?.status ?? 'missing'} with ${reply?.content.length ?? 0} of ${text.length} characters`);
  if (kill.awaitIncomplete) {
    const deadline = killedAt + MARKED_WITHIN_MS;
    while (reply?.status === 'streaming' && now() < deadline) {
      await sleep(1_000);
      reply = await readReply();
    }
    const markedAfter = (now() - killedAt) / 1000;
    log(`the cut reply is ${reply?.status ?? 'missing'} ${markedAfter.toFixed(1)} s after the kill (marked by a surviving instance's sweep: 45 s without a save, looked for every 30 s)`);
    figures.add('kill.incomplete', 'reply cut by the kill marked incomplete by a surviving instance (1 = held)', 'yes=1', reply?.status === 'incomplete' ? 1 : 0, { op: '>=', value: 1 });
    figures.add('kill.marked_after', 'kill -9 → cut reply marked incomplete (45 s stale + up to a 30 s sweep)', 's', reply?.status === 'incomplete' ? markedAfter : Number.NaN, { op: '<=', value: MARKED_WITHIN_MS / 1000 });
  } else {
    log(`smoke: not waiting the 45-75 s a surviving instance takes to mark the reply incomplete`);
    figures.add('kill.left_streaming', 'reply cut by the kill left streaming until its row goes stale (1 = as expected)', 'yes=1', streamingAfterKill ? 1 : 0, { op: '>=', value: 1 });
  }
  const content = reply?.content ?? '';
  const kept = text.startsWith(content) && content.startsWith(surely);
  figures.add('kill.stored', 'cut reply stored: a prefix of what its client received, with all it had 1.5 s before the kill (1 = held)', 'yes=1', kept ? 1 : 0, { op: '>=', value: 1 });
}

/** This run's keys: the organization's rate-limit counters and the event logs of its replies. */
async function removeRunKeys(redis: RedisCounters, databaseUrl: string, organizationId: string | undefined): Promise<number> {
  if (!organizationId) return 0;
  const connection = await createPostgresAdapterFactory(databaseUrl).connect();
  try {
    const { rows } = await connection.queryRaw({ sql: 'SELECT id::text FROM "Message"', args: [], argTypes: [] });
    return await redis.removeKeys([`*${organizationId}*`], rows.map(([id]) => `reply-events:${id}`));
  } finally {
    await connection.dispose();
  }
}
