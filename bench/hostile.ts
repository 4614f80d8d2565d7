// Hostile load: what the public (a widget's client id is in every customer's
// page), a busy tenant and a careless client can do to everyone else. Against
// a real gateway process on loopback, with bounded loops:
//   - a flood of anonymous widget-token requests from one address, then the
//     organization's own API key: is it still served, with its budget whole?
//   - input meant to break the server (lone surrogates in stored JSON fields,
//     GraphQL documents nested deep): how many answers are 5xx?
//   - a token minted before `signing-key rotate --revoke-old`: still accepted?
//   - one tenant's visitors sending many messages at once while a second
//     tenant sends a few: how many of the second tenant's are answered, and is
//     the first told to retry (503 with Retry-After) for its own excess?
//   - `kill -9` mid-reply, then a restart: is the partial reply stored, as
//     `incomplete`, with what the client had received?
import type { BenchConfig } from './config.ts';
import { tempDir } from './lib/children.ts';
import { now, pool, sleep } from './lib/clock.ts';
import { startDouble, type Double } from './lib/double.ts';
import { FigureSet, type Figure } from './lib/figures.ts';
import { cli, raiseRateLimit, startGateway, type Gateway } from './lib/gateway-process.ts';
import { http, postEventStream, type Auth } from './lib/http.ts';
import { percentile } from './lib/stats.ts';

type Org = Auth & { organizationId: string };

async function createAssistant(gateway: Gateway, auth: Auth, name: string): Promise<string> {
  const reply = await http('POST', `${gateway.url}/api/v1/assistants/`, { auth, body: { name } });
  if (reply.status !== 201) throw new Error(`Creating an assistant answered ${reply.status}: ${reply.text.slice(0, 300)}`);
  return reply.body.data.id;
}

async function mint(gateway: Gateway, clientId: string, previous?: string) {
  return http('POST', `${gateway.url}/api/v1/auth/widget-token`, { body: { client_id: clientId, ...(previous ? { previous_token: previous } : {}) } });
}

/** 1. Anonymous widget-token requests from one address, then the organization's API key. */
async function mintFlood(figures: FigureSet, gateway: Gateway, org: Org, count: number, log: (line: string) => void) {
  const started = now();
  const statuses = await pool(Array.from({ length: count }, (_, i) => i), 32, async () => (await mint(gateway, org.clientId)).status);
  const served = statuses.filter((status) => status === 200).length;
  const refused = statuses.filter((status) => status === 429).length;
  const backend = await http('GET', `${gateway.url}/api/v1/assistants/`, { auth: org });
  log(`${count} anonymous mints in ${((now() - started) / 1000).toFixed(1)} s: ${served} served, ${refused} refused (429); then the API key: ${backend.status}, ${backend.headers['x-ratelimit-remaining']} left`);
  figures.add('mint.served', `anonymous mints from one address served (of ${count})`, 'requests', served);
  figures.add('mint.refused', `anonymous mints from one address refused with 429 (of ${count})`, 'requests', refused);
  figures.add('mint.apiKeyRefused', 'API-key requests refused after the mint flood', 'requests', backend.status === 200 ? 0 : 1, { op: '<=', value: 0 });
  figures.add('mint.apiKeyRemaining', 'API-key budget left after the flood (of its hourly limit)', 'requests', Number(backend.headers['x-ratelimit-remaining']));
}

/** 2. Input meant to break the server, anonymous and authenticated: how many 5xx. */
async function badInput(figures: FigureSet, gateway: Gateway, org: Org, assistantId: string, log: (line: string) => void) {
  const lone = '\udc00';
  const rest: Array<[string, unknown]> = [
    ['/api/v1/assistants/', { name: 'Bot', metadata: { note: lone } }],
    ['/api/v1/contexts/', { user_reference: 'u', traits: { name: lone } }],
    ['/api/v1/contexts/', { user_reference: 'u', traits: { [lone]: 1 } }],
    ['/api/v1/sessions/', { assistant_id: assistantId, metadata: { page: lone } }],
    ['/api/v1/conversations/', { assistant_id: assistantId, customer_id: 'c', metadata: { a: [lone] } }],
    ['/api/v1/knowledge/qa/', { question: 'Q?', answer: 'A.', tags: [lone] }],
  ];
  const nested = (depth: number, [open, close]: [string, string]) => `{ assistants(limit: ${open.repeat(depth)}1${close.repeat(depth)}) { total } }`;
  const documents = [1_000, 10_000, 100_000].flatMap((depth) => [nested(depth, ['[', ']']), nested(depth, ['{a:', '}'])]);
  const replies = [
    ...(await Promise.all(rest.map(([path, body]) => http('POST', `${gateway.url}${path}`, { auth: org, body })))),
    ...(await Promise.all(
      documents.flatMap((query) => [null, org].map((auth) => http('POST', `${gateway.url}/graphql`, { auth, body: { query }, headers: { Accept: 'application/json' } }))),
    )),
  ];
  const serverErrors = replies.filter((reply) => reply.status >= 500).length;
  const clientErrors = replies.filter((reply) => reply.status >= 400 && reply.status < 500).length;
  log(`${replies.length} hostile requests: ${clientErrors} answered 4xx, ${serverErrors} answered 5xx`);
  figures.add('input.serverErrors', `hostile inputs answered 5xx (of ${replies.length})`, 'requests', serverErrors, { op: '<=', value: 0 });
  figures.add('input.clientErrors', `hostile inputs answered 4xx (of ${replies.length})`, 'requests', clientErrors);
}

/** 3. A token minted before `signing-key rotate --revoke-old`. */
async function revocation(figures: FigureSet, gateway: Gateway, dataDir: string, org: Org, log: (line: string) => void) {
  const { token } = (await mint(gateway, org.clientId)).body;
  const before = await http('GET', `${gateway.url}/api/v1/assistants/`, { headers: { Authorization: `Bearer ${token}` } });
  await cli(dataDir, ['signing-key', 'rotate', '--revoke-old']);
  const after = await http('GET', `${gateway.url}/api/v1/assistants/`, { headers: { Authorization: `Bearer ${token}` } });
  log(`a widget token: ${before.status} before signing-key rotate --revoke-old, ${after.status} after`);
  figures.add('revoke.accepted', 'requests accepted with a token minted before rotate --revoke-old', 'requests', after.status === 200 ? 1 : 0, { op: '<=', value: 0 });
}

/** 4. Tenant A's visitors flood; tenant B sends a few messages meanwhile. */
async function fairShares(figures: FigureSet, gateway: Gateway, a: Org, b: Org, sizes: { flood: number; others: number }, log: (line: string) => void) {
  const [assistantA, assistantB] = [await createAssistant(gateway, a, 'Flooded'), await createAssistant(gateway, b, 'Neighbour')];
  // The flood comes through widget tokens, a handful of visitors each opening sessions, as from a busy page.
  const tokens = await pool(Array.from({ length: Math.ceil(sizes.flood / 10) }, (_, i) => i), 8, async () => (await mint(gateway, a.clientId)).body.token as string);
  const floodSessions = await pool(Array.from({ length: sizes.flood }, (_, i) => i), 16, async (i) => {
    const headers = { Authorization: `Bearer ${tokens[i % tokens.length]}` };
    const reply = await http('POST', `${gateway.url}/api/v1/sessions/`, { headers, body: { assistant_id: assistantA } });
    if (reply.status !== 201) throw new Error(`A flood session answered ${reply.status}: ${reply.text.slice(0, 200)}`);
    return { id: reply.body.data.id as string, headers };
  });
  const otherSessions = await pool(Array.from({ length: sizes.others }, (_, i) => i), 8, async () => {
    const reply = await http('POST', `${gateway.url}/api/v1/sessions/`, { auth: b, body: { assistant_id: assistantB } });
    return reply.body.data.id as string;
  });

  const flood = Promise.all(
    floodSessions.map(({ id, headers }) =>
      http('POST', `${gateway.url}/api/v1/sessions/${id}/messages`, { headers, body: { content: 'Flood' }, timeoutMs: 300_000 }),
    ),
  );
  // Once the flood holds the slots and the queue.
  await sleep(300);
  const othersStarted = now();
  const others = await Promise.all(
    otherSessions.map(async (id) => {
      const reply = await http('POST', `${gateway.url}/api/v1/sessions/${id}/messages`, { auth: b, body: { content: 'Hello' }, timeoutMs: 300_000 });
      return { status: reply.status, ms: reply.doneAt - othersStarted };
    }),
  );
  const floodReplies = await flood;
  const answered = others.filter((reply) => reply.status === 201);
  const floodRefused = floodReplies.filter((reply) => reply.status === 503);
  const withRetryAfter = floodRefused.filter((reply) => Number(reply.headers['retry-after']) > 0).length;
  log(
    `tenant A sent ${sizes.flood} at once: ${floodReplies.filter((r) => r.status === 201).length} answered, ${floodRefused.length} refused 503 (${withRetryAfter} with Retry-After); ` +
      `tenant B sent ${sizes.others}: ${answered.length} answered, p50 ${percentile(answered.map((r) => r.ms), 50).toFixed(0)} ms (statuses ${others.map((r) => r.status).join(' ')})`,
  );
  figures.add('fair.othersAnswered', `second tenant's messages answered during the first's flood of ${sizes.flood}`, 'share', answered.length / sizes.others, { op: '>=', value: 1 });
  figures.add('fair.othersP50', "second tenant's reply time during the flood, p50", 'ms', percentile(answered.map((r) => r.ms), 50));
  figures.add('fair.floodRefused', "flooding tenant's messages refused with 503", 'requests', floodRefused.length);
  figures.add('fair.retryAfter', 'of those, with Retry-After', 'share', floodRefused.length ? withRetryAfter / floodRefused.length : 1, { op: '>=', value: 1 });
}

/** 5. `kill -9` while a reply streams, then a restart on the same data folder. */
async function hardKill(figures: FigureSet, gateway: Gateway, double: Double, dataDir: string, org: Org, log: (line: string) => void) {
  // Long enough (5 s) that the kill, a second after the 40th token, always comes mid-reply.
  await double.configure({ tokens: 200, tokenDelayMs: 25 });
  const assistantId = await createAssistant(gateway, org, 'Interrupted');
  const session = (await http('POST', `${gateway.url}/api/v1/sessions/`, { auth: org, body: { assistant_id: assistantId } })).body.data.id;
  let received = '';
  let killedAt = 0;
  const stream = postEventStream(`${gateway.url}/api/v1/sessions/${session}/messages`, org, { content: 'Tell me a long story' }, (event) => {
    if (event.event !== 'token') return;
    received += JSON.parse(event.data).delta;
  }).catch(() => null);
  // Half the reply, then the process is killed outright: no handler runs.
  while (received.split('tok').length < 40) await sleep(10);
  // What the client had a second before the kill: partial replies are saved about once a second.
  const receivedBeforeKill = received.length;
  await sleep(1_100);
  killedAt = now();
  gateway.child.process.kill('SIGKILL');
  await gateway.child.exited;
  await stream;
  const restarted = await startGateway({ label: 'gateway (after kill -9)', dataDir, ollamaHost: double.url });
  try {
    const history = await http('GET', `${restarted.url}/api/v1/sessions/${session}/messages`, { auth: org });
    const reply = (history.body?.data?.items ?? []).find((message: { role: string }) => message.role === 'assistant');
    const stored = reply?.content?.length ?? 0;
    log(
      `killed ${((now() - killedAt) / 1000).toFixed(1)} s ago, ${receivedBeforeKill} characters had reached the client a second before; after restart: ` +
        `${reply ? `reply ${reply.status}, ${stored} characters stored` : 'no reply stored'}`,
    );
    figures.add('kill.storedShare', 'partial reply stored after kill -9 (share of what the client had received a second before)', 'share', receivedBeforeKill ? Math.min(1, stored / receivedBeforeKill) : 0, { op: '>=', value: 1 });
    figures.add('kill.incomplete', 'partial reply marked incomplete after restart', 'yes=1', reply?.status === 'incomplete' ? 1 : 0, { op: '>=', value: 1 });
  } finally {
    await restarted.stop();
  }
}

export async function hostileSection(config: BenchConfig, log: (line: string) => void): Promise<Figure[]> {
  const figures = new FigureSet('hostile');
  const folder = tempDir('hostile');
  let double: Double | undefined;
  let gateway: Gateway | undefined;
  try {
    double = await startDouble();
    await double.configure({ tokens: 20, tokenDelayMs: config.smoke ? 10 : 25 });
    // The defaults, as a public deployment runs them.
    gateway = await startGateway({ label: 'gateway (hostile, defaults)', dataDir: folder.dir, ollamaHost: double.url });
    const a = gateway.credentials!;
    const assistantId = await createAssistant(gateway, a, 'Target');
    await mintFlood(figures, gateway, a, config.smoke ? 100 : 1000, log);
    await badInput(figures, gateway, a, assistantId, log);
    await revocation(figures, gateway, folder.dir, a, log);
    await gateway.stop();

    // Loopback is one address: the flood below is many visitors, so the per-address budget is raised for it.
    gateway = await startGateway({
      label: 'gateway (hostile, tenants)',
      dataDir: folder.dir,
      ollamaHost: double.url,
      env: { ADDRESS_RATE_LIMIT_PER_HOUR: '1000000', WIDGET_RATE_LIMIT_PER_HOUR: '1000000' },
    });
    const b = await cli(folder.dir, ['org', 'create', '--name', 'Neighbour']).then((created) => ({
      organizationId: created.organization_id,
      clientId: created.client_id,
      clientSecret: created.client_secret,
    }));
    for (const org of [a, b]) await raiseRateLimit(folder.dir, org.organizationId);
    await fairShares(figures, gateway, a, b, config.smoke ? { flood: 30, others: 3 } : { flood: 150, others: 10 }, log);
    await hardKill(figures, gateway, double, folder.dir, a, log);
    gateway = undefined;
  } finally {
    await gateway?.stop().catch(() => {});
    await double?.close();
    folder.remove();
  }
  return figures.list();
}
