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
