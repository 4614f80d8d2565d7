// Two gateway instances on one PostgreSQL database, both sending webhooks from
// the shared queue: every event reaches the receiver acknowledged exactly once,
// in the order it was queued, even when a failure makes one wait for a retry.
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildApp, type App } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db/database.ts';
import { createLlm } from '../src/llm/ollama.ts';
import { startOllamaDouble, type OllamaDouble } from './utils/ollama-double.ts';
import { throwawaySchema } from './utils/postgres.ts';
import { startWebhookReceiver, type WebhookReceiver } from './utils/webhook-receiver.ts';

type Instance = { app: App; db: Database };

let ollama: OllamaDouble;
let schema: Awaited<ReturnType<typeof throwawaySchema>>;
let receiver: WebhookReceiver;
const instances: Instance[] = [];

async function startInstance(): Promise<Instance> {
  const config = loadConfig({ OLLAMA_HOST: ollama.url, DATABASE_URL: schema.url, WEBHOOK_ALLOW_HOSTS: '127.0.0.1' });
  const db = await openDatabase({ databaseUrl: schema.url });
  return { app: buildApp({ config, db, llm: createLlm({ host: ollama.url }) }), db };
}

beforeAll(async () => {
  ollama = await startOllamaDouble({ models: ['llama3.2', 'nomic-embed-text'] });
  schema = await throwawaySchema('gateway_hooks');
  receiver = await startWebhookReceiver();
  // One after the other: the first migrates the schema.
  instances.push(await startInstance());
  instances.push(await startInstance());
}, 120_000);

afterAll(async () => {
  for (const { app, db } of instances) {
    await app.close();
    await db.close();
  }
  await receiver.close();
  await ollama.close();
  await schema.drop();
});

test('deliveries sent by two instances arrive once each and in order, a failed one retried first', async () => {
  const [a, b] = instances;
  const org = await a.app.services.organizations.create({ name: `Hooks ${Date.now()}` });
  const call = (instance: Instance, method: string, path: string, body?: unknown) =>
    instance.app
      .fetch(
        new Request(`http://gateway.test/api/v1${path}`, {
          method,
          headers: { 'X-API-Key': org.clientId, 'X-API-Secret': org.clientSecret, 'Content-Type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
      )
      .then(async (response) => ({ status: response.status, body: await response.json() }));

  const hook = (await call(a, 'POST', '/webhooks', { url: receiver.url, events: ['source.ready'] })).body.data;
  receiver.answerWith(500);
  // Sources added through both instances; either instance's worker may index them and send their events.
  for (let i = 0; i < 6; i++) {
    const added = await call(i % 2 ? b : a, 'POST', '/knowledge/qa', { question: `Question ${i}?`, answer: `Answer ${i}.` });
    expect(added.status).toBe(202);
  }

  const arrived = await receiver.waitFor(7, 60_000);
  for (const delivery of arrived) new Webhook(hook.secret).verify(delivery.body, delivery.headers);
  const acknowledged = arrived.filter((d) => d.answered < 300).map((d) => d.headers['webhook-id']);
  // The first one failed, then came again before any other.
  expect(arrived[0].answered).toBe(500);
  expect(acknowledged[0]).toBe(arrived[0].headers['webhook-id']);
  expect(new Set(acknowledged).size).toBe(6);

  // Nothing acknowledged comes again, and the receiver saw them in the queue's order.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  expect(receiver.received).toHaveLength(7);
  let deliveries: any[] = [];
  for (let i = 0; i < 50; i++) {
    deliveries = (await call(b, 'GET', `/webhooks/${hook.id}/deliveries`)).body.data.items;
    if (deliveries.every((d) => d.status === 'delivered')) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(deliveries.map((d) => d.event_id).reverse()).toEqual(acknowledged);
  expect(deliveries.map((d) => d.attempts).reverse()).toEqual([2, 1, 1, 1, 1, 1]);
}, 120_000);
