// Liveness and readiness as an orchestrator or a person checks them:
// /healthz says the process serves, /readyz whether it can do its work, and
// what to fix when it cannot.
import { afterAll, describe, expect, test } from 'vitest';
import { createTestApp, type TestApp } from './utils/app.ts';

const apps: TestApp[] = [];
afterAll(async () => {
  for (const app of apps) await app.close();
});

async function start(options: Parameters<typeof createTestApp>[0] = {}) {
  const app = await createTestApp(options);
  apps.push(app);
  return app;
}

describe('/readyz', () => {
  test('is 200 with the database migrated and Ollama serving the configured models', async () => {
    const t = await start();
    const { status, body, headers } = await t.json('GET', '/readyz', { auth: null });
    expect(status).toBe(200);
    expect(headers.get('cache-control')).toBe('no-store');
    expect(body.status).toBe('ready');
    expect(body.checks.map((check: { name: string; ok: boolean }) => [check.name, check.ok])).toEqual([
      ['database', true],
      ['migrations', true],
      ['ollama', true],
    ]);
  });

  test('is 503 naming Ollama and how to start it when Ollama cannot be reached, while /healthz stays 200', async () => {
    const t = await start({ ollamaHost: 'http://127.0.0.1:1' });
    const ready = await t.json('GET', '/readyz', { auth: null });
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe('not ready');
    expect(ready.body.detail).toMatch(/Cannot reach Ollama at http:\/\/127\.0\.0\.1:1.*ollama serve/);
    expect(ready.body.checks.find((check: { name: string }) => check.name === 'database').ok).toBe(true);
    const live = await t.json('GET', '/healthz', { auth: null });
    expect(live).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  test('is 503 naming each model Ollama lacks, with the command that pulls it', async () => {
    const t = await start({ ollama: { models: ['llama3.2'] } });
    const ready = await t.json('GET', '/readyz', { auth: null });
    expect(ready.status).toBe(503);
    expect(ready.body.detail).toMatch(/lacks nomic-embed-text: run `ollama pull nomic-embed-text`/);
    // Pulled meanwhile: ready at the next check.
    t.ollama.setBehavior({ models: ['llama3.2', 'nomic-embed-text'] });
    expect((await t.json('GET', '/readyz', { auth: null })).status).toBe(200);
  });

  test('costs no request budget and needs no credentials', async () => {
    const t = await start();
    const reply = await t.request('GET', '/readyz', { auth: null });
    expect(reply.headers.get('x-ratelimit-remaining')).toBeNull();
  });
});

/** The value of one sample line of the exposition text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (wanted.every((label) => line.includes(label))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('/metrics', () => {
  test('counts requests by route pattern, times the model\'s first token and speed, and counts rate-limit refusals', async () => {
    const t = await start({ ollama: { tokenDelayMs: 5 } });
    const assistant = (await t.json('POST', '/api/v1/assistants/', { body: { name: 'Metered' } })).body.data.id;
    const session = (await t.json('POST', '/api/v1/sessions/', { body: { assistant_id: assistant } })).body.data.id;
    expect((await t.json('POST', `/api/v1/sessions/${session}/messages`, { body: { content: 'Tell me about metrics please' } })).status).toBe(201);
    const limited = await t.createOrg('Tiny budget', 1);
    await t.json('GET', '/api/v1/assistants/', { auth: limited });
    expect((await t.json('GET', '/api/v1/assistants/', { auth: limited })).status).toBe(429);

    const reply = await t.request('GET', '/metrics', { auth: null });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await reply.text();
    // The route is the path pattern, not the id a client sent.
    expect(sample(text, 'gateway_http_requests_total', { route: '/api/v1/sessions/:id/messages', method: 'POST', status: '201' })).toBe(1);
    expect(text).not.toContain(session);
    expect(sample(text, 'gateway_http_request_duration_seconds_count', { route: '/api/v1/assistants', method: 'GET', status: '429' })).toBe(1);
    expect(sample(text, 'gateway_llm_time_to_first_token_seconds_count', { model: 'llama3.2' })).toBe(1);
    expect(sample(text, 'gateway_llm_tokens_per_second_count', { model: 'llama3.2' })).toBe(1);
    expect(sample(text, 'gateway_rate_limit_refusals_total', { policy: 'org' })).toBe(1);
    expect(sample(text, 'gateway_ingestion_jobs', { state: 'queued' })).toBe(0);
    expect(sample(text, 'gateway_open_streams')).toBe(0);
    expect(sample(text, 'gateway_generations', { state: 'active' })).toBe(0);
    expect(sample(text, 'gateway_generations', { state: 'queued' })).toBe(0);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  test('shows the streams open and the replies being generated while a reply streams', async () => {
    const t = await start({ ollama: { tokenDelayMs: 100 } });
    const assistant = (await t.json('POST', '/api/v1/assistants/', { body: { name: 'Streaming' } })).body.data.id;
    const session = (await t.json('POST', '/api/v1/sessions/', { body: { assistant_id: assistant } })).body.data.id;
    const streaming = await t.request('POST', `/api/v1/sessions/${session}/messages`, {
      body: { content: 'A slow and long answer, please' },
      headers: { Accept: 'text/event-stream' },
    });
    const reader = streaming.body!.getReader();
    await reader.read();
    const during = await (await t.request('GET', '/metrics', { auth: null })).text();
    expect(sample(during, 'gateway_open_streams')).toBe(1);
    expect(sample(during, 'gateway_generations', { state: 'active' })).toBe(1);
    while (!(await reader.read()).done);
    const after = await (await t.request('GET', '/metrics', { auth: null })).text();
    expect(sample(after, 'gateway_open_streams')).toBe(0);
  });

  test('counts a streamed OpenAI chat completion as an open stream until it ends, or until its client leaves', async () => {
    const t = await start({ ollama: { tokenDelayMs: 100 } });
    const assistant = (await t.json('POST', '/api/v1/assistants/', { body: { name: 'Streaming' } })).body.data.id;
    const openStreams = async () => sample(await (await t.request('GET', '/metrics', { auth: null })).text(), 'gateway_open_streams');
    const stream = () =>
      t.request('POST', '/v1/chat/completions', {
        auth: null,
        headers: { Authorization: `Bearer ${t.org.clientId}:${t.org.clientSecret}` },
        body: { model: assistant, stream: true, messages: [{ role: 'user', content: 'A slow and long answer, please' }] },
      });

    const finished = (await stream()).body!.getReader();
    await finished.read();
    expect(await openStreams()).toBe(1);
    while (!(await finished.read()).done);
    expect(await openStreams()).toBe(0);

    const left = (await stream()).body!.getReader();
    await left.read();
    expect(await openStreams()).toBe(1);
    await left.cancel();
    expect(await openStreams()).toBe(0);
  });

  test('with METRICS_TOKEN set, needs it as a bearer token', async () => {
    const t = await start({ env: { METRICS_TOKEN: 'scrape-me' } });
    const without = await t.json('GET', '/metrics', { auth: null });
    expect(without.status).toBe(401);
    expect(without.body.detail).toMatch(/METRICS_TOKEN/);
    expect((await t.request('GET', '/metrics', { auth: null, headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await t.request('GET', '/metrics', { auth: null, headers: { Authorization: 'Bearer scrape-me' } })).status).toBe(200);
  });
});
