// Messages: what the gateway adds to a reply coming from Ollama (the test
// double, in its own process, with a fixed per-token delay), over three surfaces:
//   - REST JSON (no streaming): the round trip and the time added over the double's own;
//   - REST server-sent events and GraphQL over WebSocket (graphql-ws): time to first token
//     and total time added, and the relay overhead of every token (from the double writing
//     it to the client reading it), p50 and p99;
//   - a floor: the client reading the double directly, i.e. what measuring itself costs.
// Load levels (config.ts): 1 chat at a time; 10 and 100 concurrent chats, each slot sending
// its next chat as soon as the last one ends, the slots' first chats spread over one reply's
// duration (as with real users; the first round only ramps up); and 100 chats sent at the
// same instant (a burst, the worst case for the work before generation).
// The work before generation (store the message, history, prompt) is reported on its own:
// from the client sending the message to the double receiving /api/chat.
// Memory per open stream: the gateway's RSS and heap before and after opening N idle
// sessionEvents subscriptions over graphql-ws (one socket each), divided by N.
// Every process reads the same clock (CLOCK_MONOTONIC, see lib/clock.ts).
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { BenchConfig, MessageLevel } from './config.ts';
import { tempDir } from './lib/children.ts';
import { now, pool, sleep, withTimeout } from './lib/clock.ts';
import { startDouble, type ChatRecord, type Double } from './lib/double.ts';
import { FigureSet, type Figure } from './lib/figures.ts';
import { raiseRateLimit, startGateway, type Gateway } from './lib/gateway-process.ts';
import { request as httpRequest } from 'node:http';
import { agent, http, postEventStream, type Auth } from './lib/http.ts';
import { percentile } from './lib/stats.ts';
import { cpuMeter, describeCpu } from './lib/cpu.ts';

/** `direct`: the benchmark's client reads the double itself, no gateway: the floor of what the clients can measure. */
const MODES = ['rest-json', 'rest-sse', 'graphql-ws', 'direct'] as const;
type Mode = (typeof MODES)[number];

const MODE_LABELS: Record<Mode, string> = {
  'rest-json': 'REST JSON',
  'rest-sse': 'REST SSE',
  'graphql-ws': 'graphql-ws',
  direct: 'floor (no gateway)',
};

const STREAM = /* GraphQL */ `
  subscription ($sessionId: ID!, $content: String!) {
    streamSessionMessage(sessionId: $sessionId, input: { content: $content }) {
      __typename
      ... on MessageDelta { delta }
      ... on MessageCompleted { assistantMessage { id status } }
    }
  }
`;

const WATCH = /* GraphQL */ `
  subscription ($sessionId: ID!) {
    sessionEvents(sessionId: $sessionId) {
      __typename
      ... on MessageCompleted { assistantMessage { id } }
    }
  }
`;

/** What the client saw of one chat, on the shared clock. */
type ChatTiming = { tag: string; t0: number; tokens: number[]; done: number };

type Samples = { preGen: number[]; ttftAdded: number[]; totalAdded: number[]; roundTrip: number[]; relay: number[] };

const emptySamples = (): Samples => ({ preGen: [], ttftAdded: [], totalAdded: [], roundTrip: [], relay: [] });

type Context = {
  config: BenchConfig;
  gateway: Gateway;
  double: Double;
  auth: Auth;
  assistantId: string;
  wsUrl: string;
  /** Connected graphql-ws clients, one per concurrent chat, reused from wave to wave. */
  clients: Client[];
  log: (line: string) => void;
};

export async function messagesSection(config: BenchConfig, log: (line: string) => void): Promise<Figure[]> {
  const data = tempDir('messages');
  let double: Double | undefined;
  let gateway: Gateway | undefined;
  const clients: Client[] = [];
  try {
    double = await startDouble();
    const { tokenDelayMs, levels } = config.messages;
    const maxChats = Math.max(...levels.map((level) => level.chats));
    gateway = await startGateway({
      label: 'gateway',
      dataDir: data.dir,
      ollamaHost: double.url,
      probe: true,
      cpuProfDir: config.cpuProfDir,
      env: { MAX_CONCURRENT_GENERATIONS: String(Math.max(1000, maxChats)), GENERATION_QUEUE_SIZE: '1000' },
    });
    const org = gateway.credentials;
    if (!org) throw new Error('The first start printed no credentials.');
    await raiseRateLimit(data.dir, org.organizationId);
    const assistant = await http('POST', `${gateway.url}/api/v1/assistants/`, {
      auth: org,
      body: { name: 'Benchmark assistant', description: 'Answers benchmark questions.', tone: 'friendly', default_tasks: ['answer_questions'] },
    });
    if (assistant.status !== 201) throw new Error(`Creating the assistant answered ${assistant.status}: ${assistant.text}`);
    const ctx: Context = {
      config,
      gateway,
      double,
      auth: org,
      assistantId: assistant.body.data.id,
      wsUrl: `${gateway.url.replace(/^http/, 'ws')}/graphql`,
      clients,
      log,
    };

    const warmup = config.messages.warmupChats;
    log(`warming up: ${warmup} chats per surface (${tokenDelayMs} ms between tokens)`);
    for (const mode of MODES) {
      await runLevel(ctx, mode, { key: 'warmup', label: 'warm-up', chats: Math.min(10, warmup), rounds: Math.ceil(warmup / 10), tokens: 8, staggered: false, measureFrom: 0 }, 'warmup');
    }

    const figures = new FigureSet('messages');
    for (let run = 1; run <= config.runs; run++) {
      for (const level of levels) {
        for (const mode of MODES) {
          const samples = await runLevel(ctx, mode, level, `r${run}`);
          report(figures, mode, level, samples);
          const parts = [];
          if (mode !== 'direct') parts.push(`pre-generation p50 ${fmt(percentile(samples.preGen, 50))} ms, added p50 ${fmt(percentile(samples.totalAdded, 50))} ms`);
          if (mode !== 'rest-json') parts.push(`relay p50 ${fmt(percentile(samples.relay, 50))} p99 ${fmt(percentile(samples.relay, 99))} ms`);
          log(`run ${run}: ${MODE_LABELS[mode].padEnd(18)} ${level.label.padEnd(16)} ${parts.join(', ')} (CPU: ${describeCpu(samples.cpu)})`);
        }
      }
    }

    await Promise.all(clients.splice(0).map((client) => client.dispose()));
    // Memory is measured on a gateway started afresh on the same folder: after the chats above,
    // V8 and PGlite hold freed pages that new streams would reuse without the RSS moving. The
    // sessions to watch are created before, for the same reason.
    const streams = config.messages.openStreams;
    log(`memory: creating ${streams} sessions to watch`);
    const streamSessions = await createSessions(ctx, streams + WARM_WATCHERS);
    await gateway.stop();
    log('memory: restarting the gateway on the same DATA_DIR');
    gateway = await startGateway({ label: 'gateway', dataDir: data.dir, ollamaHost: double.url, probe: true, cpuProfDir: config.cpuProfDir });
    ctx.gateway = gateway;
    ctx.wsUrl = `${gateway.url.replace(/^http/, 'ws')}/graphql`;
    await openStreams(ctx, figures, streamSessions);
    return figures.list();
  } finally {
    await Promise.allSettled(clients.map((client) => client.dispose()));
    await Promise.allSettled([gateway?.stop(), double?.close()]);
    data.remove();
  }
}

const fmt = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : '–');

function report(figures: FigureSet, mode: Mode, level: MessageLevel, samples: Samples) {
  const key = `${mode}.${level.key}`;
  const label = `${MODE_LABELS[mode]}, ${level.label}`;
  const target = (value: number | undefined) => (value === undefined ? undefined : { op: '<=' as const, value });
  if (mode === 'direct') {
    figures.add(`${key}.relay.p50`, `${label}: per-token relay p50`, 'ms', percentile(samples.relay, 50));
    figures.add(`${key}.relay.p99`, `${label}: per-token relay p99`, 'ms', percentile(samples.relay, 99));
    return;
  }
  figures.add(`${key}.pregen.p50`, `${label}: pre-generation p50`, 'ms', percentile(samples.preGen, 50), target(level.targets?.preGenerationP50));
  if (mode === 'rest-json') {
    figures.add(`${key}.roundtrip.p50`, `${label}: round trip p50`, 'ms', percentile(samples.roundTrip, 50));
    figures.add(`${key}.added.p50`, `${label}: time added p50`, 'ms', percentile(samples.totalAdded, 50));
    return;
  }
  figures.add(`${key}.ttft_added.p50`, `${label}: first token added p50`, 'ms', percentile(samples.ttftAdded, 50));
  figures.add(`${key}.added.p50`, `${label}: total time added p50`, 'ms', percentile(samples.totalAdded, 50));
  figures.add(`${key}.relay.p50`, `${label}: per-token relay p50`, 'ms', percentile(samples.relay, 50), target(level.targets?.relayP50));
  figures.add(`${key}.relay.p99`, `${label}: per-token relay p99`, 'ms', percentile(samples.relay, 99), target(level.targets?.relayP99));
}

async function createSessions(ctx: Context, count: number): Promise<string[]> {
  return pool(Array.from({ length: count }, (_, i) => i), 8, async (i) => {
    const reply = await http('POST', `${ctx.gateway.url}/api/v1/sessions/`, {
      auth: ctx.auth,
      body: { assistant_id: ctx.assistantId, visitor_id: `bench-visitor-${i}`, locale: 'en' },
    });
    if (reply.status !== 201) throw new Error(`Creating a session answered ${reply.status}: ${reply.text}`);
    return reply.body.data.id as string;
  });
}

/** Opens graphql-ws clients until there are `count`, each connected (acknowledged) before it is used. */
async function ensureClients(ctx: Context, count: number) {
  while (ctx.clients.length < count) {
    const missing = count - ctx.clients.length;
    const opened = await Promise.all(Array.from({ length: Math.min(missing, 50) }, () => connectedClient(ctx.wsUrl, ctx.auth)));
    ctx.clients.push(...opened);
  }
}

function connectedClient(url: string, auth: Auth): Promise<Client> {
  return withTimeout(
    new Promise<Client>((resolve, reject) => {
      const client = createClient({
        url,
        webSocketImpl: WebSocket,
        connectionParams: { 'X-API-Key': auth.clientId, 'X-API-Secret': auth.clientSecret },
        lazy: false,
        retryAttempts: 0,
        onNonLazyError: reject,
      });
      client.on('connected', () => resolve(client));
      client.on('closed', (event) => reject(new Error(`The WebSocket closed before it was acknowledged: ${JSON.stringify(event)}`)));
    }),
    30_000,
    'Opening a graphql-ws connection',
  );
}

/**
 * Runs one load level: `chats` slots, each sending `rounds` chats one after the other (each in a
 * new session), started together or spread over one reply's duration. Returns the samples of the
 * measured rounds.
 */
async function runLevel(ctx: Context, mode: Mode, level: MessageLevel, name: string): Promise<Samples & { cpu: Record<string, number> }> {
  const { chats, rounds, tokens } = level;
  const delay = ctx.config.messages.tokenDelayMs;
  await ctx.double.configure({ tokens, tokenDelayMs: delay });
  const sessions = mode === 'direct' ? Array.from({ length: chats * rounds }, () => '') : await createSessions(ctx, chats * rounds);
  if (mode === 'graphql-ws') await ensureClients(ctx, chats);
  await ctx.double.drain();
  const stamp = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const replyMs = tokens * delay;
  const timings: Array<ChatTiming & { round: number }> = [];
  const cpu = cpuMeter({ gateway: ctx.gateway.child.pid, double: ctx.double.pid, clients: process.pid });
  const slot = async (index: number) => {
    if (level.staggered && chats > 1) await sleep((index * replyMs) / chats);
    for (let round = 0; round < rounds; round++) {
      const tag = `bench ${mode} ${name} ${level.key} ${index}.${round} ${stamp}`;
      timings.push({ ...(await chat(ctx, mode, sessions[index * rounds + round], tag, index)), round });
    }
  };
  await withTimeout(
    Promise.all(Array.from({ length: chats }, (_, index) => slot(index))),
    ctx.config.messages.levelTimeoutMs,
    `${level.label} over ${mode}`,
  );
  const cpuUse = cpu.stop();
  const records = new Map<string, ChatRecord>();
  for (const record of await ctx.double.drain()) records.set(record.user, record);
  const samples = emptySamples();
  for (const timing of timings) {
    const record = records.get(timing.tag);
    if (!record) throw new Error(`The double never received the chat "${timing.tag}".`);
    if (record.aborted || record.chunks.length !== tokens) throw new Error(`The double sent ${record.chunks.length} of ${tokens} tokens for "${timing.tag}" (aborted: ${record.aborted}).`);
    if (!Number.isFinite(record.endedAt)) throw new Error(`The double did not record the end of "${timing.tag}".`);
    if (mode !== 'rest-json' && timing.tokens.length !== tokens) throw new Error(`The client received ${timing.tokens.length} of ${tokens} tokens over ${mode}.`);
    if (timing.round < level.measureFrom) continue;
    // The double's own share: from receiving the request to its first chunk, and to the end of its reply.
    const doubleFirst = record.chunks[0] - record.receivedAt;
    const doubleTotal = record.endedAt - record.receivedAt;
    samples.preGen.push(record.receivedAt - timing.t0);
    samples.roundTrip.push(timing.done - timing.t0);
    samples.totalAdded.push(timing.done - timing.t0 - doubleTotal);
    if (mode === 'rest-json') continue;
    samples.ttftAdded.push(timing.tokens[0] - timing.t0 - doubleFirst);
    timing.tokens.forEach((at, j) => samples.relay.push(at - record.chunks[j]));
  }
  return { ...samples, cpu: cpuUse };
}

function chat(ctx: Context, mode: Mode, sessionId: string, tag: string, index: number): Promise<ChatTiming> {
  switch (mode) {
    case 'rest-json':
      return restJson(ctx, sessionId, tag);
    case 'rest-sse':
      return restSse(ctx, sessionId, tag);
    case 'graphql-ws':
      return graphqlWs(ctx.clients[index], sessionId, tag);
    case 'direct':
      return direct(ctx, tag);
  }
}

/** Reads an Ollama NDJSON chat stream straight from the double, as the gateway would. */
function direct(ctx: Context, tag: string): Promise<ChatTiming> {
  const tokens: number[] = [];
  let done = Number.NaN;
  const t0 = now();
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: tag }], stream: true });
    const req = httpRequest(`${ctx.double.url}/api/chat`, { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } }, (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const at = now();
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n')) !== -1) {
          const line = JSON.parse(buffer.slice(0, end)) as { message?: { content?: string }; done?: boolean };
          buffer = buffer.slice(end + 1);
          if (line.done) done = at;
          else if (line.message?.content) tokens.push(at);
        }
      });
      res.on('error', reject);
      res.on('end', () => (res.statusCode === 200 && !Number.isNaN(done) ? resolve({ tag, t0, tokens, done }) : reject(new Error(`The double answered ${res.statusCode}.`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function restJson(ctx: Context, sessionId: string, tag: string): Promise<ChatTiming> {
  const t0 = now();
  const reply = await http('POST', `${ctx.gateway.url}/api/v1/sessions/${sessionId}/messages`, { auth: ctx.auth, body: { content: tag } });
  if (reply.status !== 201 || reply.body?.data?.assistant_message?.status !== 'complete') {
    throw new Error(`A REST message answered ${reply.status}: ${reply.text.slice(0, 500)}`);
  }
  return { tag, t0, tokens: [], done: reply.doneAt };
}

async function restSse(ctx: Context, sessionId: string, tag: string): Promise<ChatTiming> {
  const tokens: number[] = [];
  let done = Number.NaN;
  let failure = '';
  const t0 = now();
  const reply = await postEventStream(`${ctx.gateway.url}/api/v1/sessions/${sessionId}/messages`, ctx.auth, { content: tag }, (event) => {
    if (event.event === 'token') tokens.push(event.at);
    else if (event.event === 'done') done = event.at;
    else if (event.event === 'error') failure = event.data;
  });
  if (reply.status !== 200 || failure || Number.isNaN(done)) {
    throw new Error(`A REST event stream answered ${reply.status}: ${failure || reply.text.slice(0, 500) || 'no done event'}`);
  }
  return { tag, t0, tokens, done };
}

function graphqlWs(client: Client, sessionId: string, tag: string): Promise<ChatTiming> {
  return new Promise((resolve, reject) => {
    const tokens: number[] = [];
    let done = Number.NaN;
    const t0 = now();
    client.subscribe<any>(
      { query: STREAM, variables: { sessionId, content: tag } },
      {
        next(item) {
          const at = now();
          if (item.errors?.length) return reject(new Error(`graphql-ws chat failed: ${JSON.stringify(item.errors)}`));
          const type = item.data?.streamSessionMessage?.__typename;
          if (type === 'MessageDelta') tokens.push(at);
          else if (type === 'MessageCompleted') done = at;
        },
        error: (error) => reject(error instanceof Error ? error : new Error(`graphql-ws chat failed: ${JSON.stringify(error)}`)),
        complete: () => (Number.isNaN(done) ? reject(new Error('A graphql-ws chat ended without MessageCompleted.')) : resolve({ tag, t0, tokens, done })),
      },
    );
  });
}

/** Memory of the gateway per idle sessionEvents subscription, one WebSocket each. */
const WARM_WATCHERS = 20;

async function openStreams(ctx: Context, figures: FigureSet, allSessions: string[]) {
  const count = ctx.config.messages.openStreams;
  const sessions = allSessions.slice(WARM_WATCHERS);
  ctx.log(`memory: opening ${count} idle sessionEvents subscriptions (one WebSocket each)`);

  // Warm the code paths of subscribing and closing before the baseline (other sessions: a closed
  // idle watcher may linger until its session sees a message).
  await openWatchers(ctx, allSessions.slice(0, WARM_WATCHERS)).then(closeWatchers);
  await sleep(500);
  const before = await ctx.gateway.memory(true);

  const watchers = await openWatchers(ctx, sessions);
  try {
    await sleep(ctx.config.smoke ? 300 : 1000);
    const after = await ctx.gateway.memory(true);

    // The subscriptions were really live: messages in a sample of sessions (the last opened
    // among them) reach their watchers.
    const sample = [...new Set([...sessions.slice(-10), ...sessions.filter((_, i) => i % Math.max(1, Math.floor(count / 15)) === 0)])];
    await ctx.double.configure({ tokens: 2, tokenDelayMs: 0 });
    await pool(sample, 8, async (sessionId) => {
      const watcher = watchers.find((w) => w.sessionId === sessionId)!;
      await restJson(ctx, sessionId, `bench watch ${sessionId}`);
      await withTimeout(watcher.completed, 10_000, `The sessionEvents watcher of ${sessionId}`);
    });
    await ctx.double.drain();

    const perStream = (field: 'rss' | 'heapUsed' | 'heapTotal', from: NodeJS.MemoryUsage, to: NodeJS.MemoryUsage) => (to[field] - from[field]) / count / 1024;
    figures.add('streams.rss', `${count} idle sessionEvents streams: RSS per stream`, 'KB', perStream('rss', before, after));
    // V8 grows its young generation once under any burst of allocation (up to 64 MB, kept after GC):
    // a fixed cost of a busy process, not of the streams, so the target is held to RSS without it.
    const youngGrowth = (after.spaces.new_space?.size ?? 0) - (before.spaces.new_space?.size ?? 0);
    figures.add('streams.rss_net', `${count} idle sessionEvents streams: RSS per stream, less young-gen growth`, 'KB', (after.rss - before.rss - youngGrowth) / count / 1024, { op: '<=', value: 100 });
    // RSS alone can hide the growth (V8 reuses pages it had committed before the baseline): the heap is held to the target too.
    figures.add('streams.heap', `${count} idle sessionEvents streams: heap per stream`, 'KB', perStream('heapUsed', before, after), { op: '<=', value: 100 });
    ctx.log(`memory: RSS ${mb(before.rss)} → ${mb(after.rss)} MB, heap used ${mb(before.heapUsed)} → ${mb(after.heapUsed)} MB, heap committed ${mb(before.heapTotal)} → ${mb(after.heapTotal)} MB, external ${mb(before.external)} → ${mb(after.external)} MB`);
    const grown = Object.keys(after.spaces)
      .map((name) => ({ name, size: after.spaces[name].size - (before.spaces[name]?.size ?? 0), used: after.spaces[name].used - (before.spaces[name]?.used ?? 0) }))
      .filter((space) => Math.abs(space.size) >= 1024 * 1024 || Math.abs(space.used) >= 1024 * 1024)
      .map((space) => `${space.name} +${mb(space.size)} MB committed (+${mb(space.used)} MB used)`);
    ctx.log(`memory: heap spaces that grew: ${grown.join(', ') || 'none'}`);
    figures.add('streams.heap_committed', `${count} idle sessionEvents streams: heap committed per stream`, 'KB', perStream('heapTotal', before, after));

    await closeWatchers(watchers);
    await sleep(ctx.config.smoke ? 300 : 1000);
    const closed = await ctx.gateway.memory(true);
    figures.add('streams.heap_retained', `${count} streams closed again: heap kept per stream`, 'KB', perStream('heapUsed', before, closed));
  } finally {
    await closeWatchers(watchers);
  }
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

type Watcher = { sessionId: string; client: Client; completed: Promise<void> };

async function openWatchers(ctx: Context, sessions: string[]): Promise<Watcher[]> {
  return pool(sessions, 50, async (sessionId) => {
    const client = await connectedClient(ctx.wsUrl, ctx.auth);
    let completed!: () => void;
    let failed!: (error: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      completed = resolve;
      failed = reject;
    });
    done.catch(() => {});
    client.subscribe<any>(
      { query: WATCH, variables: { sessionId } },
      {
        next: (item) => {
          if (item.errors?.length) failed(new Error(JSON.stringify(item.errors)));
          else if (item.data?.sessionEvents?.__typename === 'MessageCompleted') completed();
        },
        error: (error) => failed(error),
        complete: () => failed(new Error('The sessionEvents subscription ended.')),
      },
    );
    return { sessionId, client, completed: done };
  });
}

async function closeWatchers(watchers: Watcher[]) {
  await Promise.allSettled(watchers.map((watcher) => watcher.client.dispose()));
}
