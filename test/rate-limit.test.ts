// Each organization has an hourly request budget, counted across REST and
// GraphQL (and across instances when they share Redis). Every counted reply
// says where the client stands; over the limit it is told when to retry.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp, type App } from '../src/app.ts';
import type { Config } from '../src/config.ts';
import { FAILED_AUTH_POINTS } from '../src/http/rate-limit.ts';
import { createLlm } from '../src/llm/ollama.ts';
import { authHeaders, BASE, createTestApp, type Credentials, type TestApp } from './utils/app.ts';

let t: TestApp;
/** Apps built here besides t.app, closed at the end. */
const extraApps: App[] = [];
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await Promise.all(extraApps.map((app) => app.close()));
  await t.close();
});

type Auth = Credentials | { token: string } | null;

function rest(app: Pick<App, 'fetch'>, method: string, path: string, auth: Auth, body?: unknown, headers: Record<string, string> = {}) {
  return app.fetch(
    new Request(`${BASE}${path}`, {
      method,
      headers: { ...authHeaders(auth), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
}

function graphql(app: Pick<App, 'fetch'>, query: string, auth: Auth, variables: Record<string, unknown> = {}) {
  return app.fetch(
    new Request(`${BASE}/graphql`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...authHeaders(auth) },
      body: JSON.stringify({ query, variables }),
    }),
  );
}

const remaining = (response: Response) => Number(response.headers.get('x-ratelimit-remaining'));

/** Another instance on the same database, with its own counters (or Redis's). */
function newApp({ config = t.config, redis }: { config?: Config; redis?: Redis } = {}): App {
  const app = buildApp({ config, db: t.db, llm: createLlm({ host: t.config.ollamaHost }), redis });
  extraApps.push(app);
  return app;
}

describe('the rate-limit headers', () => {
  test('every counted reply carries the limit, what remains and when the window resets, in both header styles', async () => {
    const org = await t.createOrg('Headers', 50);
    const before = Math.floor(Date.now() / 1000);
    const response = await rest(t.app, 'GET', '/api/v1/assistants/', org);
    const after = Math.ceil(Date.now() / 1000);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-ratelimit-limit')).toBe('50');
    expect(response.headers.get('x-ratelimit-remaining')).toBe('49');
    const reset = Number(response.headers.get('x-ratelimit-reset'));
    // Unix time in seconds, at most an hour ahead.
    expect(reset).toBeGreaterThan(before + 3500);
    expect(reset).toBeLessThanOrEqual(after + 3600);
    expect(response.headers.get('ratelimit-policy')).toBe('"org";q=50;w=3600');
    const match = /^"org";r=(\d+);t=(\d+)$/.exec(response.headers.get('ratelimit') ?? '');
    expect(match).not.toBeNull();
    expect(Number(match![1])).toBe(49);
    const secondsLeft = Number(match![2]);
    expect(secondsLeft).toBeGreaterThan(3500);
    expect(secondsLeft).toBeLessThanOrEqual(3600);
    // Both styles describe the same moment: the reset is now plus the seconds left.
    expect(reset - secondsLeft).toBeGreaterThanOrEqual(before);
    expect(reset - secondsLeft).toBeLessThanOrEqual(after);
  });

  test('the remaining count goes down by one per request, whatever the outcome', async () => {
    const org = await t.createOrg('Countdown', 50);
    const replies = [
      await rest(t.app, 'GET', '/api/v1/assistants/', org),
      await rest(t.app, 'GET', `/api/v1/assistants/${randomUUID()}`, org),
      await rest(t.app, 'POST', '/api/v1/assistants/', org, { description: 'no name' }),
      await rest(t.app, 'POST', '/api/v1/assistants/', org, { name: 'Counted' }),
    ];
    expect(replies.map((r) => r.status)).toEqual([200, 404, 422, 201]);
    expect(replies.map(remaining)).toEqual([49, 48, 47, 46]);
  });

  test('the reference\'s default is 1000 requests an hour', async () => {
    const response = await rest(t.app, 'GET', '/api/v1/assistants/', t.org);
    expect(response.headers.get('x-ratelimit-limit')).toBe('1000');
    expect(response.headers.get('ratelimit-policy')).toBe('"org";q=1000;w=3600');
  });
});

describe('over the limit', () => {
  test('the next request is a 429 envelope with Retry-After, and other organizations are unaffected', async () => {
    const org = await t.createOrg('Small budget', 3);
    for (let i = 0; i < 3; i++) expect((await rest(t.app, 'GET', '/api/v1/assistants/', org)).status).toBe(200);
    const refused = await rest(t.app, 'GET', '/api/v1/assistants/', org);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({ status: 'error', status_code: 429, detail: expect.stringMatching(/3 requests/), data: null });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(refused.headers.get('x-ratelimit-limit')).toBe('3');
    expect(refused.headers.get('ratelimit')).toMatch(/^"org";r=0;t=\d+$/);
    // Still refused, and nothing runs: a refused create creates nothing.
    expect((await rest(t.app, 'POST', '/api/v1/assistants/', org, { name: 'Too many' })).status).toBe(429);
    const count = await t.db.prisma.assistant.count({ where: { organizationId: org.organizationId } });
    expect(count).toBe(0);
    // Other organizations keep their own budgets.
    expect((await rest(t.app, 'GET', '/api/v1/assistants/', t.otherOrg)).status).toBe(200);
  });

  test('a higher limit set for the organization takes effect without losing the count', async () => {
    const org = await t.createOrg('Raised', 2);
    await rest(t.app, 'GET', '/api/v1/assistants/', org);
    await rest(t.app, 'GET', '/api/v1/assistants/', org);
    expect((await rest(t.app, 'GET', '/api/v1/assistants/', org)).status).toBe(429);
    await t.app.services.organizations.setRateLimit(org.organizationId, 10);
    const after = await rest(t.app, 'GET', '/api/v1/assistants/', org);
    expect(after.status).toBe(200);
    expect(after.headers.get('x-ratelimit-limit')).toBe('10');
    expect(remaining(after)).toBe(6);
  });
});

describe('what counts', () => {
  test('REST and GraphQL draw on the same budget, and GraphQL is refused with 429 and RATE_LIMITED', async () => {
    const org = await t.createOrg('Both surfaces', 4);
    const first = await rest(t.app, 'GET', '/api/v1/assistants/', org);
    const second = await graphql(t.app, '{ assistants { total } }', org);
    const third = await rest(t.app, 'GET', '/api/v1/contexts/', org);
    const fourth = await graphql(t.app, '{ organization { name } }', org);
    expect([first, second, third, fourth].map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect([first, second, third, fourth].map(remaining)).toEqual([3, 2, 1, 0]);
    expect(second.headers.get('ratelimit-policy')).toBe('"org";q=4;w=3600');

    const refused = await graphql(t.app, '{ assistants { total } }', org);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = await refused.json();
    expect(body.errors[0].extensions.code).toBe('RATE_LIMITED');
    expect(body.data ?? null).toBeNull();
    expect((await rest(t.app, 'GET', '/api/v1/assistants/', org)).status).toBe(429);
  });

  test('widget tokens and visitors\' calls never spend the organization\'s API-key budget', async () => {
    const org = await t.createOrg('Widget budget', 3);
    const issued = await rest(t.app, 'POST', '/api/v1/auth/widget-token', null, { client_id: org.clientId });
    expect(issued.status).toBe(200);
    // Counted against the widget's own budgets, named in the headers.
    expect(issued.headers.get('ratelimit-policy')).toMatch(/"address";q=\d+;w=3600, "widget";q=\d+;w=3600/);
    const { token } = await issued.json();
    for (let i = 0; i < 5; i++) expect((await rest(t.app, 'GET', '/api/v1/assistants/', { token })).status).toBe(200);
    const asVisitor = await rest(t.app, 'GET', '/api/v1/assistants/', { token });
    expect(asVisitor.headers.get('ratelimit-policy')).toMatch(/"visitor";q=\d+;w=3600/);
    // Seven widget requests later, the API key still has its whole budget of 3.
    const asBackend = await rest(t.app, 'GET', '/api/v1/assistants/', org);
    expect(asBackend.status).toBe(200);
    expect(asBackend.headers.get('ratelimit-policy')).toBe('"org";q=3;w=3600');
    expect(remaining(asBackend)).toBe(2);
  });

  test('1,000 anonymous widget-token requests from one address cost that address, not the organization', async () => {
    const app = newApp();
    const org = await t.createOrg('Flooded from one address', 1000);
    const statuses = new Map<number, number>();
    let refusal: Response | undefined;
    for (let i = 0; i < 1000; i++) {
      const response = await rest(app, 'POST', '/api/v1/auth/widget-token', null, { client_id: org.clientId });
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      if (response.status === 429) refusal ??= response;
      else await response.body?.cancel();
    }
    expect(statuses.get(200)).toBe(t.config.addressRateLimitPerHour);
    expect(statuses.get(429)).toBe(1000 - t.config.addressRateLimitPerHour);
    const body = await refusal!.json();
    expect(body).toMatchObject({ status: 'error', status_code: 429, data: null });
    expect(body.detail).toMatch(/This address has used its \d+ anonymous and widget requests/);
    expect(refusal!.headers.get('ratelimit-policy')).toMatch(/^"address";/);
    // The organization's backend is untouched, and so is its widget budget elsewhere.
    const backend = await rest(app, 'GET', '/api/v1/assistants/', org);
    expect(backend.status).toBe(200);
    expect(remaining(backend)).toBe(999);
  });

  test('a widget token requested over GraphQL past a budget is a 429 with Retry-After too', async () => {
    const app = newApp({ config: { ...t.config, widgetRateLimitPerHour: 1 } });
    const org = await t.createOrg('Widget over GraphQL', 100);
    const query = 'mutation ($c: String!) { createWidgetToken(clientId: $c) { token } }';
    const first = await graphql(app, query, null, { c: org.clientId });
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit')).toMatch(/"widget";r=0;/);
    const refused = await graphql(app, query, null, { c: org.clientId });
    const body = await refused.json();
    expect(body.errors?.[0].extensions.code).toBe('RATE_LIMITED');
    expect(body.errors?.[0].message).toMatch(/widget has used its 1 requests/);
    expect(body.data?.createWidgetToken ?? null).toBeNull();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // The widget's budget is spent; the API key's is not.
    expect((await rest(app, 'GET', '/api/v1/assistants/', org)).status).toBe(200);
  });

  test('each visitor has a budget of its own, and anonymous requests are metered per address', async () => {
    const app = newApp({ config: { ...t.config, visitorRateLimitPerHour: 2, addressRateLimitPerHour: 8 } });
    const org = await t.createOrg('Visitors', 100);
    const mint = async () => (await (await rest(app, 'POST', '/api/v1/auth/widget-token', null, { client_id: org.clientId })).json()).token;
    const [first, second] = [await mint(), await mint()];
    expect((await rest(app, 'GET', '/api/v1/assistants/', { token: first })).status).toBe(200);
    expect((await rest(app, 'GET', '/api/v1/assistants/', { token: first })).status).toBe(200);
    const refused = await rest(app, 'GET', '/api/v1/assistants/', { token: first });
    expect(refused.status).toBe(429);
    expect((await refused.json()).detail).toMatch(/This visitor has used its 2 requests/);
    expect((await rest(app, 'GET', '/api/v1/assistants/', { token: second })).status).toBe(200);
    // Two mints and four visitor calls used 6 of the address's 8; anonymous GraphQL counts there too.
    const anonymous = await graphql(app, '{ __typename }', null);
    expect(anonymous.status).toBe(200);
    expect(anonymous.headers.get('ratelimit')).toMatch(/^"address";r=1;t=\d+$/);
    expect((await graphql(app, '{ __typename }', null)).status).toBe(200);
    expect((await graphql(app, '{ __typename }', null)).status).toBe(429);
  });

  test('preflight requests are free', async () => {
    const org = await t.createOrg('Preflight', 5);
    for (let i = 0; i < 10; i++) {
      const preflight = await t.app.fetch(
        new Request(`${BASE}/api/v1/assistants/`, {
          method: 'OPTIONS',
          headers: { Origin: 'https://shop.example.com', 'Access-Control-Request-Method': 'GET', ...authHeaders(org) },
        }),
      );
      expect(preflight.status).toBeLessThan(300);
    }
    const response = await rest(t.app, 'GET', '/api/v1/assistants/', org);
    expect(response.status).toBe(200);
    expect(remaining(response)).toBe(4);
  });
});

describe('failed authentication', () => {
  test('a client address that keeps failing to authenticate is told to wait with a 429', async () => {
    const app = newApp();
    const wrong = { ...t.org, clientSecret: 'cs_guess' };
    for (let i = 0; i < FAILED_AUTH_POINTS; i++) {
      const response = await rest(app, 'GET', '/api/v1/assistants/', wrong);
      expect(response.status, `attempt ${i + 1}`).toBe(401);
    }
    const refused = await rest(app, 'GET', '/api/v1/assistants/', wrong);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ status: 'error', status_code: 429, data: null });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    // The headers describe the failed-authentication allowance, not an organization's budget.
    expect(refused.headers.get('ratelimit-policy') ?? '').not.toMatch(/"org"/);
    // GraphQL is refused the same way.
    const overGraphql = await graphql(app, '{ assistants { total } }', wrong);
    expect(overGraphql.status).toBe(429);
    expect((await overGraphql.json()).errors[0].extensions.code).toBe('RATE_LIMITED');
  });

  test('valid credentials are never refused because others failed from the same address', async () => {
    const app = newApp();
    const victim = await t.createOrg('Behind the same NAT', 50);
    const token = (await (await rest(app, 'POST', '/api/v1/auth/widget-token', null, { client_id: victim.clientId })).json()).token;
    for (let i = 0; i <= FAILED_AUTH_POINTS; i++) await rest(app, 'GET', '/api/v1/assistants/', { ...victim, clientSecret: 'cs_guess' });
    expect((await rest(app, 'GET', '/api/v1/assistants/', { ...victim, clientSecret: 'cs_guess' })).status).toBe(429);
    expect((await rest(app, 'GET', '/api/v1/assistants/', { token: 'not.a.token' })).status).toBe(429);
    // The right secret and a valid widget token still pass, on REST and GraphQL.
    expect((await rest(app, 'GET', '/api/v1/assistants/', victim)).status).toBe(200);
    expect((await graphql(app, '{ assistants { total } }', victim)).status).toBe(200);
    expect((await rest(app, 'GET', '/api/v1/assistants/', { token })).status).toBe(200);
  });

  test('failed attempts do not use up the organization\'s own budget', async () => {
    const app = newApp();
    const org = await t.createOrg('Under attack', 5);
    for (let i = 0; i < 20; i++) await rest(app, 'GET', '/api/v1/assistants/', { ...org, clientSecret: 'cs_guess' });
    const response = await rest(app, 'GET', '/api/v1/assistants/', org);
    expect(response.status).toBe(200);
    expect(remaining(response)).toBe(4);
  });

  test('guessing client ids at the widget-token endpoint counts as failed authentication', async () => {
    const app = newApp();
    for (let i = 0; i < FAILED_AUTH_POINTS; i++) {
      const response = await rest(app, 'POST', '/api/v1/auth/widget-token', null, { client_id: `cid_guess_${i}` });
      expect(response.status, `attempt ${i + 1}`).toBe(401);
    }
    const refused = await rest(app, 'POST', '/api/v1/auth/widget-token', null, { client_id: 'cid_guess_last' });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('failed authentication on other paths', () => {
  test('asking for protected data with no credentials at all counts as failed authentication, on REST and GraphQL', async () => {
    const app = newApp();
    for (let i = 0; i < FAILED_AUTH_POINTS; i++) {
      const response = i % 2 === 0 ? await rest(app, 'GET', '/api/v1/assistants/', null) : await graphql(app, '{ assistants { total } }', null);
      expect(response.status === 401 || (await response.clone().json()).errors?.[0].extensions.code === 'UNAUTHENTICATED', `attempt ${i + 1}`).toBe(true);
    }
    const refusedRest = await rest(app, 'GET', '/api/v1/contexts/', null);
    expect(refusedRest.status).toBe(429);
    expect(await refusedRest.json()).toMatchObject({ status: 'error', status_code: 429, data: null });
    const refusedGraphql = await graphql(app, '{ conversations { total } }', null);
    expect(refusedGraphql.status).toBe(429);
    expect(Number(refusedGraphql.headers.get('retry-after'))).toBeGreaterThan(0);
    // A legitimate widget keeps working from that address: asking for a token is not a failure.
    const org = await t.createOrg('Widget behind a busy address', 10);
    expect((await rest(app, 'POST', '/api/v1/auth/widget-token', null, { client_id: org.clientId })).status).toBe(200);
  });

  test('wrong credentials in a WebSocket connection_init count against the address like failed HTTP attempts', async () => {
    const app = newApp();
    const server = createServer(app.nodeHandler);
    const sockets = app.attachWebSockets(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const connect = () =>
        new Promise<{ code: number; reason: string }>((resolve, reject) => {
          const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
          socket.on('open', () =>
            socket.send(JSON.stringify({ type: 'connection_init', payload: { 'X-API-Key': t.org.clientId, 'X-API-Secret': 'cs_guess' } })),
          );
          socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
          socket.on('error', reject);
        });
      for (let i = 0; i < FAILED_AUTH_POINTS; i++) {
        const closed = await connect();
        expect(closed.code).toBe(4401);
        expect(closed.reason).toMatch(/Invalid X-API-Key/);
      }
      const refused = await connect();
      expect(refused.code).toBe(4401);
      expect(refused.reason).toMatch(/Too many failed authentication attempts/);
      // The same address over HTTP is refused too.
      const overHttp = await fetch(`http://127.0.0.1:${port}/api/v1/assistants/`, { headers: authHeaders({ ...t.org, clientSecret: 'cs_guess' }) });
      expect(overHttp.status).toBe(429);
    } finally {
      await sockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('behind a reverse proxy', () => {
  test('with TRUST_PROXY, each forwarded client address has its own budget; without it, the header is ignored', async () => {
    const serve = async (config: Config) => {
      const app = newApp({ config });
      const server = createServer(app.nodeHandler);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      const mint = (forwardedFor: string) =>
        fetch(`http://127.0.0.1:${port}/api/v1/auth/widget-token`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': forwardedFor },
          body: JSON.stringify({ client_id: t.org.clientId }),
        }).then((response) => response.status);
      return { mint, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
    };
    const proxied = await serve({ ...t.config, addressRateLimitPerHour: 2, trustProxy: ['loopback'] });
    try {
      expect([await proxied.mint('203.0.113.7'), await proxied.mint('203.0.113.7'), await proxied.mint('203.0.113.7')]).toEqual([200, 200, 429]);
      expect(await proxied.mint('198.51.100.20')).toBe(200);
      // One IPv6 host holds a /64: a new address in it is the same client.
      expect([await proxied.mint('2001:db8:1:2::1'), await proxied.mint('2001:db8:1:2::ffff')]).toEqual([200, 200]);
      expect(await proxied.mint('2001:db8:1:2:abcd::9')).toBe(429);
    } finally {
      await proxied.close();
    }
    const direct = await serve({ ...t.config, addressRateLimitPerHour: 2 });
    try {
      // A client cannot pose as many addresses by writing the header itself.
      expect([await direct.mint('203.0.113.1'), await direct.mint('203.0.113.2'), await direct.mint('203.0.113.3')]).toEqual([200, 200, 429]);
    } finally {
      await direct.close();
    }
  });
});

describe('with REDIS_URL, instances count together', () => {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const clients: Redis[] = [];
  const keys: string[] = [];
  afterAll(async () => {
    if (clients[0] && keys.length > 0) await clients[0].del(...keys);
    for (const client of clients) client.disconnect();
  });

  test('two app instances sharing one Redis add up their counts and refuse together', async () => {
    const a = new Redis(url, { maxRetriesPerRequest: 1 });
    const b = new Redis(url, { maxRetriesPerRequest: 1 });
    clients.push(a, b);
    expect(await a.ping()).toBe('PONG');
    // A fresh organization (a new UUID) so that runs never share counters.
    const org = await t.createOrg(`Shared ${randomUUID()}`, 6);
    keys.push(`rl:org:${org.organizationId}`);
    const first = newApp({ redis: a });
    const second = newApp({ redis: b });

    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      const app = i % 2 === 0 ? first : second;
      const response = i % 3 === 2 ? await graphql(app, '{ assistants { total } }', org) : await rest(app, 'GET', '/api/v1/assistants/', org);
      expect(response.status).toBe(200);
      seen.push(remaining(response));
    }
    expect(seen).toEqual([5, 4, 3, 2, 1, 0]);
    expect((await rest(first, 'GET', '/api/v1/assistants/', org)).status).toBe(429);
    expect((await rest(second, 'GET', '/api/v1/assistants/', org)).status).toBe(429);
    // The count lives in Redis, where both instances read it.
    expect(Number(await a.get(`rl:org:${org.organizationId}`))).toBeGreaterThanOrEqual(8);
  });

  test('when Redis cannot be reached, requests are still served and counted in memory', async () => {
    const unreachable = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    unreachable.on('error', () => {});
    clients.push(unreachable);
    const app = newApp({ redis: unreachable });
    const org = await t.createOrg('Redis down', 10);
    const firstReply = await rest(app, 'GET', '/api/v1/assistants/', org);
    expect(firstReply.status).toBe(200);
    expect(remaining(firstReply)).toBe(9);
    const secondReply = await rest(app, 'GET', '/api/v1/assistants/', org);
    expect(remaining(secondReply)).toBe(8);
  });
});
