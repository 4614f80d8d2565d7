// A list of conversations or sessions with their messages asks the database a
// fixed number of times, not once or twice per item: each item's page of
// messages comes from one batch per request (DataLoader), scoped to its thread.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestApp, type TestApp } from './utils/app.ts';
import { statementsDuring } from './utils/statements.ts';

let t: TestApp;
let assistantId: string;

beforeAll(async () => {
  // No job worker or webhook sender: their polls would be counted with the requests' statements.
  t = await createTestApp({ runJobs: false });
  const assistant = await t.json('POST', '/api/v1/assistants/', { body: { name: 'Lister' } });
  assistantId = assistant.body.data.id;
}, 120_000);
afterAll(() => t?.close());

/** `count` conversations of a new customer, the i-th holding i % 4 + 1 messages. */
async function conversationsOf(customerId: string, count: number) {
  const { organizationId } = t.org;
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const conversation = await t.db.prisma.conversation.create({ data: { organizationId, assistantId, customerId, title: `Chat ${i}` } });
    ids.push(conversation.id);
    await t.db.prisma.message.createMany({
      data: Array.from({ length: (i % 4) + 1 }, (_, n) => ({
        organizationId,
        conversationId: conversation.id,
        role: n % 2 ? 'assistant' : 'user',
        content: `chat ${i} message ${n}`,
        createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)),
      })),
    });
  }
  return ids;
}

const NESTED = /* GraphQL */ `
  query ($customerId: String!, $limit: Int!) {
    conversations(customerId: $customerId, limit: $limit) {
      items { title messages(limit: 2, offset: 1) { total limit offset items { content } } }
    }
  }`;

test('100 conversations with a page of messages each take as many queries as 10, and each page is its own thread\'s', async () => {
  await conversationsOf('ten', 10);
  await conversationsOf('hundred', 100);
  const ten = await statementsDuring(t, () => t.graphql(NESTED, { customerId: 'ten', limit: 10 }));
  const hundred = await statementsDuring(t, () => t.graphql(NESTED, { customerId: 'hundred', limit: 100 }));

  expect(hundred.result.body.errors).toBeUndefined();
  const items = hundred.result.body.data.conversations.items;
  expect(items).toHaveLength(100);
  for (const item of items) {
    const i = Number(item.title.split(' ')[1]);
    const messages = (i % 4) + 1;
    // The second and third messages (offset 1, limit 2), oldest first, of this conversation only.
    expect(item.messages).toEqual({
      total: messages,
      limit: 2,
      offset: 1,
      items: [1, 2].filter((n) => n < messages).map((n) => ({ content: `chat ${i} message ${n}` })),
    });
  }
  // Before: two per conversation (a page and its total) on top of the list's own.
  expect(hundred.statements).toHaveLength(ten.statements.length);
  expect(hundred.statements.length).toBeLessThanOrEqual(8);
}, 120_000);

test('sessions\' messages are batched the same way, and a page past the limit is refused as before', async () => {
  const created = await Promise.all(Array.from({ length: 20 }, () => t.json('POST', '/api/v1/sessions/', { body: { assistant_id: assistantId } })));
  for (const [i, { body }] of created.entries()) {
    await t.db.prisma.message.create({ data: { organizationId: t.org.organizationId, sessionId: body.data.id, role: 'user', content: `visitor ${i}` } });
  }
  const query = /* GraphQL */ `query ($limit: Int!) { sessions(limit: 20) { items { id messages(limit: $limit) { total items { content } } } } }`;
  const { result, statements } = await statementsDuring(t, () => t.graphql(query, { limit: 5 }));
  expect(result.body.errors).toBeUndefined();
  const contents = result.body.data.sessions.items.map((item: any) => item.messages.items.map((m: any) => m.content));
  expect(contents.flat().sort()).toEqual(Array.from({ length: 20 }, (_, i) => `visitor ${i}`).sort());
  expect(result.body.data.sessions.items.every((item: any) => item.messages.total === 1)).toBe(true);
  expect(statements.length).toBeLessThanOrEqual(8);

  const refused = await t.graphql(query, { limit: 500 });
  expect(refused.body.errors?.[0].message).toMatch(/at most 100/);
}, 120_000);
