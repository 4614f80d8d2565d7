// Webhooks through REST against a real loopback receiver: endpoints refused on
// private addresses, deliveries in the Standard Webhooks format verified with
// the standardwebhooks library, retried after a failure, in order per endpoint.
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestApp, type TestApp } from './utils/app.ts';
import { startWebhookReceiver, type ReceivedDelivery, type WebhookReceiver } from './utils/webhook-receiver.ts';

let t: TestApp;
let receiver: WebhookReceiver;
let assistantId: string;

beforeAll(async () => {
  // The receiver listens on loopback, which webhooks may call only when allowed.
  t = await createTestApp({ env: { WEBHOOK_ALLOW_HOSTS: '127.0.0.1' } });
  receiver = await startWebhookReceiver();
  assistantId = (await t.json('POST', '/api/v1/assistants', { body: { name: 'Hooked' } })).body.data.id;
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

/** Verifies a delivery as a receiver would, and returns its parsed body. */
function verified(secret: string, delivery: ReceivedDelivery) {
  return new Webhook(secret).verify(delivery.body, delivery.headers) as { type: string; timestamp: string; data: any };
}

async function createWebhook(events: string[], url = receiver.url) {
  const { status, body } = await t.json('POST', '/api/v1/webhooks/', { body: { url, events } });
  expect(status).toBe(201);
  return body.data as { id: string; secret: string; url: string; events: string[] };
}

async function deliveriesOf(id: string) {
  return (await t.json('GET', `/api/v1/webhooks/${id}/deliveries`)).body.data;
}

/** The deliveries once none is pending any more (the receiver sees a delivery a moment before it is recorded). */
async function settledDeliveries(id: string) {
  for (let i = 0; ; i++) {
    const page = await deliveriesOf(id);
    if (i >= 100 || page.items.every((d: { status: string }) => d.status !== 'pending')) return page;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('registering webhooks', () => {
  test('a webhook is created with a whsec_ secret shown once, and lists without it', async () => {
    const { status, body } = await t.json('POST', '/api/v1/webhooks/', { body: { url: receiver.url, events: ['source.ready'] } });
    expect(status).toBe(201);
    expect(body.data).toMatchObject({ url: receiver.url, events: ['source.ready'] });
    expect(body.data.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const list = await t.json('GET', '/api/v1/webhooks');
    const listed = list.body.data.items.find((w: { id: string }) => w.id === body.data.id);
    expect(listed).toMatchObject({ url: receiver.url, events: ['source.ready'] });
    expect(JSON.stringify(list.body)).not.toContain(body.data.secret);
    expect((await t.json('DELETE', `/api/v1/webhooks/${body.data.id}`)).status).toBe(200);
    expect((await t.json('GET', `/api/v1/webhooks/${body.data.id}/deliveries`)).status).toBe(404);
  });

  test('a private or loopback address not named in WEBHOOK_ALLOW_HOSTS is refused with 422', async () => {
    for (const url of ['http://10.1.2.3/hooks', 'http://192.168.0.10:8080/', 'http://[::1]/hooks', 'http://169.254.169.254/latest']) {
      const { status, body } = await t.json('POST', '/api/v1/webhooks', { body: { url, events: ['message.completed'] } });
      expect(status, url).toBe(422);
      expect(body.data.errors[0].field).toBe('url');
      expect(body.detail).toContain('WEBHOOK_ALLOW_HOSTS');
    }
  });

  test('unknown event types, a missing url and a non-http url are named in the 422', async () => {
    const wrong = await t.json('POST', '/api/v1/webhooks', { body: { url: receiver.url, events: ['message.deleted'] } });
    expect(wrong.status).toBe(422);
    expect(wrong.body.data.errors[0].field).toBe('events.0');
    expect(wrong.body.detail).toContain('message.completed');
    const none = await t.json('POST', '/api/v1/webhooks', { body: { events: ['source.ready'] } });
    expect(none.status).toBe(422);
    expect(none.body.data.errors).toEqual([{ field: 'url', message: 'is required' }]);
    const ftp = await t.json('POST', '/api/v1/webhooks', { body: { url: 'ftp://example.com/x', events: ['source.ready'] } });
    expect(ftp.status).toBe(422);
  });

  test('a widget token cannot manage webhooks, and another organization\'s webhook is not found', async () => {
    const token = (await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: t.org.clientId }, auth: null })).body.token;
    const refused = await t.json('POST', '/api/v1/webhooks', { body: { url: receiver.url, events: ['source.ready'] }, auth: { token } });
    expect(refused.status).toBe(403);
    const mine = await createWebhook(['source.ready']);
    expect((await t.json('GET', `/api/v1/webhooks/${mine.id}/deliveries`, { auth: t.otherOrg })).status).toBe(404);
    expect((await t.json('DELETE', `/api/v1/webhooks/${mine.id}`, { auth: t.otherOrg })).status).toBe(404);
    await t.json('DELETE', `/api/v1/webhooks/${mine.id}`);
  });
});

describe('webhooks over GraphQL', () => {
  test('createWebhook shows the secret once; the Webhook type has no field that reads it', async () => {
    const created = await t.graphql(
      `mutation ($url: String!) { createWebhook(input: { url: $url, events: ["feedback.created"] }) { secret webhook { id url events } } }`,
      { url: receiver.url },
    );
    const { secret, webhook } = created.body.data.createWebhook;
    expect(secret).toMatch(/^whsec_/);
    expect(webhook).toMatchObject({ url: receiver.url, events: ['feedback.created'] });
    const read = await t.graphql(`query ($id: ID!) { webhook(id: $id) { secret } }`, { id: webhook.id });
    expect(read.body.errors?.[0].message).toContain('Cannot query field "secret"');
    const listed = await t.graphql(`{ webhooks { total items { id deliveries { total } } } }`);
    expect(listed.body.data.webhooks.items).toContainEqual({ id: webhook.id, deliveries: { total: 0 } });
    expect((await t.graphql(`mutation ($id: ID!) { deleteWebhook(id: $id) }`, { id: webhook.id })).body.data.deleteWebhook).toBe(true);
  });
});

describe('deliveries', () => {
  test('a reply fires message.completed, signed so that standardwebhooks verifies it', async () => {
    const hook = await createWebhook(['message.completed']);
    const before = receiver.received.length;
    const conversation = (await t.json('POST', '/api/v1/conversations', { body: { assistant_id: assistantId, customer_id: 'c-1' } })).body.data;
    const sent = await t.json('POST', `/api/v1/conversations/${conversation.id}/messages`, { body: { content: 'Where is my parcel?' } });
    expect(sent.status).toBe(201);

    const [delivery] = (await receiver.waitFor(before + 1)).slice(before);
    expect(delivery.headers['webhook-id']).toMatch(/^msg_/);
    expect(delivery.headers['content-type']).toBe('application/json');
    const event = verified(hook.secret, delivery);
    expect(event.type).toBe('message.completed');
    expect(Date.parse(event.timestamp)).not.toBeNaN();
    expect(event.data).toMatchObject({
      conversation_id: conversation.id,
      assistant_id: assistantId,
      message: { id: sent.body.data.assistant_message.id, role: 'assistant', content: 'You said: Where is my parcel?', status: 'complete' },
      user_message: { id: sent.body.data.user_message.id, content: 'Where is my parcel?' },
    });
    // Tampering breaks the signature; another endpoint's secret does not verify it.
    expect(() => new Webhook(hook.secret).verify(delivery.body.replace('parcel', 'pizza'), delivery.headers)).toThrow();

    const deliveries = await settledDeliveries(hook.id);
    expect(deliveries.items[0]).toMatchObject({ type: 'message.completed', status: 'delivered', attempts: 1, last_status: 204, last_error: null, next_attempt_at: null });
    await t.json('DELETE', `/api/v1/webhooks/${hook.id}`);
  });

  test('a receiver that fails once is retried within 10 s, and later events wait their turn', async () => {
    const hook = await createWebhook(['source.ready']);
    const before = receiver.received.length;
    receiver.answerWith(500);
    const first = await t.json('POST', '/api/v1/knowledge/qa', { body: { question: 'Opening hours?', answer: 'Nine to five.' } });
    const second = await t.json('POST', '/api/v1/knowledge/qa', { body: { question: 'Parking?', answer: 'Behind the shop.' } });
    expect(first.status).toBe(202);

    const arrived = (await receiver.waitFor(before + 3, 30_000)).slice(before);
    const events = arrived.map((delivery) => verified(hook.secret, delivery));
    // The failed one again (same webhook-id), then the next: never the second before the first.
    expect(arrived.map((d) => d.answered)).toEqual([500, 204, 204]);
    expect(arrived[1].headers['webhook-id']).toBe(arrived[0].headers['webhook-id']);
    expect(events.map((e) => e.data.id)).toEqual([first.body.data.id, first.body.data.id, second.body.data.id]);
    expect(events[0]).toMatchObject({ type: 'source.ready', data: { kind: 'qa', status: 'ready', question: 'Opening hours?' } });
    expect(arrived[1].at - arrived[0].at).toBeLessThan(10_000);

    // Acknowledged deliveries are never sent again.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(receiver.received.length).toBe(before + 3);
    const deliveries = await settledDeliveries(hook.id);
    expect(deliveries.total).toBe(2);
    const retried = deliveries.items.find((d: { payload: any }) => d.payload.data.id === first.body.data.id);
    expect(retried).toMatchObject({ status: 'delivered', attempts: 2, last_status: 204, last_error: null });
    await t.json('DELETE', `/api/v1/webhooks/${hook.id}`);
  }, 60_000);

  test('a failing receiver\'s delivery shows its attempts, the last error and the next attempt', async () => {
    const hook = await createWebhook(['source.ready']);
    const before = receiver.received.length;
    receiver.answerWith(503, 503);
    await t.json('POST', '/api/v1/knowledge/qa', { body: { question: 'Returns?', answer: 'Within 30 days.' } });
    await receiver.waitFor(before + 1);
    let pending: any;
    for (let i = 0; i < 40 && !pending?.last_error; i++) {
      pending = (await deliveriesOf(hook.id)).items[0];
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(pending).toMatchObject({ status: 'pending', attempts: 1, last_status: 503 });
    expect(pending.last_error).toContain('HTTP 503');
    expect(Date.parse(pending.next_attempt_at) - Date.now()).toBeLessThanOrEqual(5_000);
    // Deleting the endpoint drops what it was still owed.
    await t.json('DELETE', `/api/v1/webhooks/${hook.id}`);
  });
});
