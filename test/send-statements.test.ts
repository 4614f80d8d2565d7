// What a message costs the database before its reply streams: the thread is read
// once (by the permission check), and the messages a send returns or streams
// are not read back to be shown; a replay of the reply reads its rating as it is now.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestApp, type TestApp } from './utils/app.ts';
import { collectEvents } from './utils/sse.ts';
import { statementsDuring } from './utils/statements.ts';

let t: TestApp;
let conversationId: string;
let sessionId: string;

beforeAll(async () => {
  // No job worker or webhook sender: their polls would be counted with the send's statements.
  t = await createTestApp({ runJobs: false });
  const assistant = await t.json('POST', '/api/v1/assistants/', { body: { name: 'Counter' } });
  const conversation = await t.json('POST', '/api/v1/conversations/', { body: { assistant_id: assistant.body.data.id, customer_id: 'cust-7' } });
  conversationId = conversation.body.data.id;
  // Created after the conversation: it applies through the customer id.
  await t.json('POST', '/api/v1/contexts/', { body: { user_reference: 'cust-7', traits: { plan: 'platinum' } } });
  const session = await t.json('POST', '/api/v1/sessions/', { body: { assistant_id: assistant.body.data.id } });
  sessionId = session.body.data.id;
  // The first send warms what is read once per process (the model's details).
  await t.json('POST', `/api/v1/conversations/${conversationId}/messages`, { body: { content: 'warm up' } });
}, 120_000);
afterAll(() => t?.close());

const reads = (statements: string[], table: string) => statements.filter((sql) => new RegExp(`^\\s*SELECT[\\s\\S]*FROM "public"\\."${table}"`).test(sql));

test('a streamed reply reads its conversation once and shows its messages without reading them back', async () => {
  const { result: events, statements } = await statementsDuring(t, async () => {
    const response = await t.request('POST', `/api/v1/conversations/${conversationId}/messages`, {
      body: { content: 'What plan am I on?' },
      headers: { Accept: 'text/event-stream' },
    });
    expect(response.status).toBe(200);
    return collectEvents(response);
  });
  const done = JSON.parse(events.at(-1)!.data).data;
  expect(events.at(-1)!.event).toBe('done');
  expect(done.assistant_message.status).toBe('complete');
  expect(done.assistant_message.feedback).toBeNull();
  expect(done.user_message.content).toBe('What plan am I on?');
  // The customer's traits still reach the prompt, found through the customer id.
  expect(JSON.stringify(t.ollama.requests.at(-1))).toContain('platinum');

  expect(reads(statements, 'Conversation')).toHaveLength(1);
  expect(reads(statements, 'Message')).toHaveLength(1); // the history
  expect(reads(statements, 'Feedback')).toHaveLength(0);
});

test('a reply sent without streaming, to a session, reads its session once and no rating', async () => {
  const { result, statements } = await statementsDuring(t, () => t.json('POST', `/api/v1/sessions/${sessionId}/messages`, { body: { content: 'Hello' } }));
  expect(result.status).toBe(201);
  expect(result.body.data.assistant_message.feedback).toBeNull();
  expect(reads(statements, 'Session')).toHaveLength(1);
  expect(reads(statements, 'Message')).toHaveLength(1);
  expect(reads(statements, 'Feedback')).toHaveLength(0);
});

test('a reply rated after it finished shows its rating when its events are replayed', async () => {
  const sent = await t.json('POST', `/api/v1/sessions/${sessionId}/messages`, { body: { content: 'Rate me' } });
  const replyId = sent.body.data.assistant_message.id;
  expect(sent.body.data.assistant_message.feedback).toBeNull();
  const rated = await t.json('POST', `/api/v1/sessions/${sessionId}/messages/${replyId}/feedback`, { body: { rating: 'up', comment: 'Spot on' } });
  expect(rated.status).toBeLessThan(300);

  const { result: events, statements } = await statementsDuring(t, async () =>
    collectEvents(await t.request('GET', `/api/v1/sessions/${sessionId}/messages/${replyId}/events`, { headers: { Accept: 'text/event-stream' } })),
  );
  expect(events.at(-1)!.event).toBe('done');
  expect(JSON.parse(events.at(-1)!.data).data.assistant_message.feedback).toMatchObject({ rating: 'up', comment: 'Spot on' });
  expect(reads(statements, 'Feedback')).toHaveLength(1);
});
