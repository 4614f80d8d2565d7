// An assistant with rewrite_questions on has its model turn each question (read
// with the conversation so far) into search terms before the knowledge base is
// searched: a question worded nothing like the document still finds it, and a
// follow-up finds what it refers to. Off, the question is searched as asked.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestApp, type TestApp } from './utils/app.ts';
import type { ReplyRequest } from './utils/ollama-double.ts';

let t: TestApp;
const sources = { offline: '', warranty: '' };
const assistants = { rewriting: '', literal: '' };

/** The double as a model that knows the documentation's words: "plane" means offline mode, "it" the Zephyr router. */
function reply(request: ReplyRequest): string {
  const system = request.messages[0]?.content ?? '';
  if (!system.includes('search query')) return 'Here is what I found.';
  const asked = request.messages.at(-1)?.content ?? '';
  if (/plane|flight/i.test(asked)) return 'offline mode without network connection';
  if (/Zephyr/.test(asked) && /reset/i.test(asked)) return 'Zephyr router factory reset';
  return '';
}

async function addQa(question: string, answer: string) {
  const { status, body } = await t.json('POST', '/api/v1/knowledge/qa/', { body: { question, answer } });
  expect(status).toBe(202);
  const id = body.data.id as string;
  for (let i = 0; i < 600; i++) {
    const { body: source } = await t.json('GET', `/api/v1/knowledge/qa/${id}`);
    if (source.data.status === 'ready') return id;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`source ${id} never became ready`);
}

async function send(sessionId: string, content: string) {
  const sent = await t.json('POST', `/api/v1/sessions/${sessionId}/messages`, { body: { content } });
  expect(sent.status).toBe(201);
  return sent.body.data.assistant_message as { content: string; sources: Array<{ source_id: string }> };
}

async function session(assistantId: string) {
  return (await t.json('POST', '/api/v1/sessions', { body: { assistant_id: assistantId } })).body.data.id as string;
}

const rewriteRequests = () =>
  t.ollama.requests.filter((r) => r.path === '/api/chat' && (r.body as ReplyRequest).messages[0].content.includes('search query'));

beforeAll(async () => {
  // No embedding model: lexical search alone, so that only the words searched decide what is found.
  t = await createTestApp({ ollama: { models: ['llama3.2'], reply } });
  sources.offline = await addQa('Does offline mode work without a network connection?', 'Yes: offline mode keeps every feature except sync.');
  sources.warranty = await addQa('How long is the warranty of the Zephyr router?', 'Two years. A factory reset is done by holding the button for ten seconds.');
  const rewriting = await t.json('POST', '/api/v1/assistants/', { body: { name: 'Rewriter', rewrite_questions: true } });
  expect(rewriting.status).toBe(201);
  expect(rewriting.body.data.rewrite_questions).toBe(true);
  assistants.rewriting = rewriting.body.data.id;
  const literal = await t.json('POST', '/api/v1/assistants/', { body: { name: 'Literal' } });
  expect(literal.body.data.rewrite_questions).toBe(false);
  assistants.literal = literal.body.data.id;
}, 120_000);
afterAll(() => t?.close());

describe('replies', () => {
  test('a question worded unlike the document finds it through the rewrite, and not without', async () => {
    const question = 'Can I still use the app on a plane?';
    const rewritten = await send(await session(assistants.rewriting), question);
    expect(rewritten.sources.map((s) => s.source_id)).toContain(sources.offline);

    const before = rewriteRequests().length;
    const literal = await send(await session(assistants.literal), question);
    expect(literal.sources.map((s) => s.source_id)).not.toContain(sources.offline);
    expect(rewriteRequests().length).toBe(before); // off: no model call before the reply
  });

  test('a follow-up is rewritten with the conversation so far', async () => {
    const id = await session(assistants.rewriting);
    await send(id, 'I bought a Zephyr router last week.');
    const followUp = await send(id, 'How do I reset it?');
    const last = rewriteRequests().at(-1)!.body as ReplyRequest;
    expect(last.messages.at(-1)!.content).toContain('Customer: I bought a Zephyr router last week.');
    expect(last.messages.at(-1)!.content).toContain('Latest question: How do I reset it?');
    expect(followUp.sources.map((s) => s.source_id)).toContain(sources.warranty);
  });

  test('the rewrite is asked for search terms at temperature 0 and a few tokens', async () => {
    await send(await session(assistants.rewriting), 'Is there anything for a long flight?');
    const last = rewriteRequests().at(-1)!.body as ReplyRequest;
    expect(last.options).toMatchObject({ temperature: 0 });
    expect(Number(last.options.num_predict)).toBeLessThanOrEqual(64);
  });
});

describe('search and evaluation', () => {
  test('knowledge/search as a rewriting assistant shows the terms it searched for', async () => {
    const { status, body } = await t.json('POST', '/api/v1/knowledge/search', { body: { query: 'Can I use it on a plane?', assistant_id: assistants.rewriting } });
    expect(status).toBe(200);
    expect(body.data.rewritten_query).toBe('offline mode without network connection');
    expect(body.data.passages[0].source_id).toBe(sources.offline);

    const literal = await t.json('POST', '/api/v1/knowledge/search', { body: { query: 'Can I use it on a plane?', assistant_id: assistants.literal } });
    expect(literal.body.data.rewritten_query).toBeNull();
    expect(literal.body.data.passages.map((p: { source_id: string }) => p.source_id)).not.toContain(sources.offline);
  });

  test('a rewrite with nothing to add searches the question as asked', async () => {
    const { body } = await t.json('POST', '/api/v1/knowledge/search', { body: { query: 'How long is the warranty?', assistant_id: assistants.rewriting } });
    expect(body.data.rewritten_query).toBeNull();
    expect(body.data.passages[0].source_id).toBe(sources.warranty);
  });

  test('an evaluation as a rewriting assistant scores the rewritten searches and shows each rewrite', async () => {
    const cases = [{ question: 'Can I read my notes during a flight?', expected_source_id: sources.offline }];
    const rewriting = await t.json('POST', '/api/v1/knowledge/evaluations', { body: { assistant_id: assistants.rewriting, cases } });
    expect(rewriting.status).toBe(200);
    expect(rewriting.body.data.recall_at_1).toBe(1);
    expect(rewriting.body.data.cases[0].rewritten_question).toBe('offline mode without network connection');
    const literal = await t.json('POST', '/api/v1/knowledge/evaluations', { body: { assistant_id: assistants.literal, cases } });
    expect(literal.body.data.recall_at_1).toBe(0);
    expect(literal.body.data.cases[0].rewritten_question).toBeNull();
  });
});

test('rewrite_questions is a boolean the API key sets and a widget visitor does not see', async () => {
  const refused = await t.json('PATCH', `/api/v1/assistants/${assistants.literal}`, { body: { rewrite_questions: 'yes' } });
  expect(refused.status).toBe(422);
  expect(JSON.stringify(refused.body)).toContain('rewrite');
  const turnedOn = await t.json('PATCH', `/api/v1/assistants/${assistants.literal}`, { body: { rewrite_questions: true } });
  expect(turnedOn.body.data.rewrite_questions).toBe(true);
  const off = await t.json('PATCH', `/api/v1/assistants/${assistants.literal}`, { body: { rewrite_questions: false } });
  expect(off.body.data.rewrite_questions).toBe(false);
  const widget = await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: t.org.clientId }, auth: null });
  const seen = await t.json('GET', `/api/v1/assistants/${assistants.rewriting}`, { auth: { token: widget.body.token } });
  expect(seen.status).toBe(200);
  expect(seen.body.data.rewrite_questions).toBeNull();
});
