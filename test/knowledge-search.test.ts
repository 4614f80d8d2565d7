// Checking what the assistant finds: POST /knowledge/search returns the passages
// a reply would be given, POST /knowledge/evaluations scores a set of questions
// whose answering source is known (recall@1, recall@5, MRR), over REST, GraphQL
// and the CLI.
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/database.ts';
import { createLlm } from '../src/llm/ollama.ts';
import { utf8 } from './fixtures/make-files.ts';
import { authHeaders, createTestApp, type Credentials, type TestApp } from './utils/app.ts';
import { startOllamaDouble } from './utils/ollama-double.ts';
import { throwawaySchema } from './utils/postgres.ts';
import { api, cli, killAll, startServer, tempDir, type Run } from './utils/process.ts';

let t: TestApp;
/** Assistants of the test organization: one answering from the shared sources, one with a source of its own. */
const assistants = { librarian: '', staff: '' };
/** Source ids, by what they hold. */
const sources = { password: '', security: '', shipping: '', hours: '', staffDiscount: '', theirPassword: '' };

const SHIPPING_GUIDE = `# Shipping guide

## International delivery

We ship to 40 countries. International orders arrive within 7 to 14 business days, and customs fees are paid on delivery.

## Returns

Unworn items can be returned within 30 days for a full refund; the return label is free.
`;

const SECURITY_GUIDE = `# Account security

## Strong passwords

Choose a password of at least twelve characters. Change your password whenever you suspect that someone else knows it, and never reuse it on other sites.
`;

/** Sends a multipart form as curl -F does. */
async function upload(title: string, fileName: string, text: string, auth: Credentials = t.org) {
  const form = new FormData();
  form.append('title', title);
  form.append('file_type', 'md');
  form.append('file', new Blob([utf8(text) as Uint8Array<ArrayBuffer>]), fileName);
  const encoded = new Response(form);
  const response = await t.app.fetch(
    new Request('http://gateway.test/api/v1/knowledge/files/', {
      method: 'POST',
      headers: { ...authHeaders(auth), 'Content-Type': encoded.headers.get('content-type')! },
      body: await encoded.arrayBuffer(),
    }),
  );
  expect(response.status).toBe(202);
  return ((await response.json()) as { data: { id: string } }).data.id;
}

async function addQa(body: Record<string, unknown>, auth: Credentials = t.org) {
  const { status, body: reply } = await t.json('POST', '/api/v1/knowledge/qa/', { body, auth });
  expect(status).toBe(202);
  return reply.data.id as string;
}

/** Waits until the source is indexed. */
async function ready(kind: 'files' | 'qa', id: string, auth: Credentials = t.org) {
  for (let i = 0; i < 600; i++) {
    const { body } = await t.json('GET', `/api/v1/knowledge/${kind}/${id}`, { auth });
    if (body.data.status === 'ready') return;
    if (body.data.status === 'failed') throw new Error(`source ${id} failed: ${body.data.error}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`source ${id} never became ready`);
}

const search = (body: unknown, auth?: Credentials | { token: string } | null) => t.json('POST', '/api/v1/knowledge/search', { body, auth });
const evaluate = (body: unknown, auth?: Credentials | { token: string } | null) => t.json('POST', '/api/v1/knowledge/evaluations', { body, auth });

beforeAll(async () => {
  t = await createTestApp();
  assistants.librarian = (await t.json('POST', '/api/v1/assistants/', { body: { name: 'Librarian' } })).body.data.id;
  assistants.staff = (await t.json('POST', '/api/v1/assistants/', { body: { name: 'Staff helper' } })).body.data.id;
  sources.password = await addQa({ question: 'How do I reset my password?', answer: 'Open Settings, choose Security, then Reset password; a link arrives by email.' });
  sources.hours = await addQa({ question: 'What are your business hours?', answer: 'We are open Monday to Friday, 9 AM to 6 PM EST.' });
  sources.staffDiscount = await addQa({
    question: 'What is the staff discount code?',
    answer: 'Employees use the code TEAM-25 at checkout.',
    assistant_ids: [assistants.staff],
  });
  sources.shipping = await upload('Shipping guide', 'shipping.md', SHIPPING_GUIDE);
  sources.security = await upload('Account security', 'security.md', SECURITY_GUIDE);
  // Another organization holds a pair worded exactly like ours.
  sources.theirPassword = await addQa({ question: 'How do I reset my password?', answer: 'Globex staff call the helpdesk on extension 42.' }, t.otherOrg);
  await Promise.all([
    ready('qa', sources.password),
    ready('qa', sources.hours),
    ready('qa', sources.staffDiscount),
    ready('files', sources.shipping),
    ready('files', sources.security),
    ready('qa', sources.theirPassword, t.otherOrg),
  ]);
  // Six sources indexed by the background worker: slow on a loaded machine.
}, 120_000);
afterAll(async () => {
  await t?.close();
  await killAll();
});

describe('POST /knowledge/search', () => {
  test('a `#` comment in a code block of a Markdown file is not a heading: the passages after it keep their section', async () => {
    const org = await t.createOrg('Docs with code');
    const id = await upload(
      'Deploy notes',
      'deploy.md',
      [
        '```sh',
        '# not a title: a comment',
        'echo deploy',
        '```',
        '',
        '# Deploy notes',
        '',
        '## Configuration',
        '',
        'Put the settings in a file named .env at the root of the project:',
        '',
        '```sh',
        '# The database to use',
        'DATABASE_URL=postgres://localhost/app',
        '~~~',
        '# still inside the block above',
        '```',
        '',
        'The gateway reads the file once, when it starts; restart it after editing the file.',
        '',
      ].join('\n'),
      org,
    );
    await ready('files', id, org);
    const { body } = await search({ query: 'when does the gateway read the settings file, and must it restart after editing?' }, org);
    const [first] = body.data.passages;
    expect(first.text).toContain('restart it after editing');
    expect(first.heading).toBe('Deploy notes > Configuration');
    for (const passage of body.data.passages) expect(passage.heading).not.toMatch(/comment|database to use|still inside/i);
  });

  test('a question worded like a document finds that document first, with the passage, its section and its score', async () => {
    const { status, body } = await search({ query: 'How long does international delivery take?', assistant_id: assistants.librarian });
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'success', status_code: 200 });
    expect(body.detail).toMatch(/passages? found/);
    expect(body.data).toMatchObject({ query: 'How long does international delivery take?', assistant_id: assistants.librarian, searched: true });
    const [first] = body.data.passages;
    expect(first).toMatchObject({ rank: 1, source_id: sources.shipping, kind: 'file', title: 'Shipping guide', url: null });
    expect(first.heading).toMatch(/International delivery/);
    expect(first.text).toContain('7 to 14 business days');
    expect(first.snippet.length).toBeLessThanOrEqual(241);
    expect(first.score).toBeGreaterThan(0);
    expect(first.score).toBeLessThanOrEqual(1);
    expect(body.data.passages.map((p: { rank: number }) => p.rank)).toEqual(body.data.passages.map((_: unknown, i: number) => i + 1));
  });

  test('the passages are exactly the sources a reply to the same question cites', async () => {
    const question = 'How do I reset my password?';
    const found = await search({ query: question, assistant_id: assistants.librarian });
    const session = await t.json('POST', '/api/v1/sessions/', { body: { assistant_id: assistants.librarian } });
    const sent = await t.json('POST', `/api/v1/sessions/${session.body.data.id}/messages`, { body: { content: question } });
    expect(sent.status).toBe(201);
    const cited = sent.body.data.assistant_message.sources;
    expect(cited.length).toBeGreaterThan(0);
    expect(found.body.data.passages.map(({ source_id, kind, title, url, snippet, score }: Record<string, unknown>) => ({ source_id, kind, title, url, snippet, score }))).toEqual(cited);
    expect(cited[0].source_id).toBe(sources.password);
  });

  test('a question the knowledge base does not hold finds no passage, and says so', async () => {
    const { status, body } = await search({ query: 'Which telescope resolves Jupiter\'s moons?', assistant_id: assistants.librarian });
    expect(status).toBe(200);
    expect(body.data).toMatchObject({ searched: true, passages: [] });
    expect(body.detail).toMatch(/No passage matches/);
  });

  test('limit caps the passages returned', async () => {
    const { body } = await search({ query: 'password security settings', limit: 1 });
    expect(body.data.passages).toHaveLength(1);
  });

  test('a source scoped to one assistant is found only when searching as that assistant', async () => {
    const query = 'What is the staff discount code?';
    const asStaff = await search({ query, assistant_id: assistants.staff });
    expect(asStaff.body.data.passages[0]).toMatchObject({ source_id: sources.staffDiscount, kind: 'qa' });
    for (const body of [{ query, assistant_id: assistants.librarian }, { query }, { query, assistant_id: null }]) {
      const other = await search(body);
      expect(other.status).toBe(200);
      expect(other.body.data.passages.map((p: { source_id: string }) => p.source_id)).not.toContain(sources.staffDiscount);
    }
  });

  test('another organization\'s passages never appear, however closely they match', async () => {
    const ours = await search({ query: 'How do I reset my password?', limit: 50 });
    const ids = ours.body.data.passages.map((p: { source_id: string }) => p.source_id);
    expect(ids).toContain(sources.password);
    expect(ids).not.toContain(sources.theirPassword);
    expect(JSON.stringify(ours.body)).not.toContain('extension 42');
    const theirs = await search({ query: 'How do I reset my password?' }, t.otherOrg);
    expect(theirs.body.data.passages.map((p: { source_id: string }) => p.source_id)).toEqual([sources.theirPassword]);
  });

  test('an organization with nothing indexed gets no passages and is told nothing is indexed', async () => {
    const empty = await t.createOrg('Initech');
    const { status, body } = await search({ query: 'How do I reset my password?' }, empty);
    expect(status).toBe(200);
    expect(body.data).toMatchObject({ searched: false, passages: [] });
    expect(body.detail).toMatch(/Nothing is indexed/);
  });

  test('input errors answer 422 naming the field', async () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{}, 'query', /required/],
      [{ query: '   ' }, 'query', /must not be empty/],
      [{ query: 'x'.repeat(32_001) }, 'query', /at most 32000/],
      [{ query: 'hours', limit: 0 }, 'limit', /at least 1/],
      [{ query: 'hours', limit: 51 }, 'limit', /at most 50/],
      [{ query: 'hours', limit: 'five' }, 'limit', /whole number/],
      [{ query: 'hours', page: 2 }, 'page', /not a field/],
    ];
    for (const [body, field, message] of cases) {
      const reply = await search(body);
      expect(reply.status, JSON.stringify(body).slice(0, 80)).toBe(422);
      expect(reply.body).toMatchObject({ status: 'error', status_code: 422 });
      expect(reply.body.data.errors).toEqual([{ field, message: expect.stringMatching(message) }]);
    }
  });
});

describe('POST /knowledge/evaluations', () => {
  test('each case gets the rank of its expected source, null when not found, and recall@1, recall@5 and MRR follow from the ranks', async () => {
    // A question two sources answer: the second source's rank is whatever the search ranks it.
    const question = 'How do I change my password?';
    const ranked = (await search({ query: question, limit: 20 })).body.data.passages as Array<{ source_id: string }>;
    const runnerUp = ranked.find((p) => p.source_id !== ranked[0].source_id)!;
    expect(runnerUp, 'two sources answer the question').toBeDefined();
    const runnerUpRank = ranked.findIndex((p) => p.source_id === runnerUp.source_id) + 1;
    expect(runnerUpRank).toBeGreaterThan(1);

    const { status, body } = await evaluate({
      assistant_id: assistants.librarian,
      cases: [
        { question: 'How long does international delivery take?', expected_source_id: sources.shipping },
        { question: 'What are your business hours?', expected_source_id: sources.hours },
        { question, expected_source_id: runnerUp.source_id },
        { question: 'Which telescope resolves Jupiter\'s moons?', expected_source_id: sources.hours },
      ],
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'success', status_code: 200 });
    const { data } = body;
    expect(data.cases.map((c: { rank: number | null }) => c.rank)).toEqual([1, 1, runnerUpRank, null]);
    expect(data.cases[0]).toMatchObject({ question: 'How long does international delivery take?', expected_source_id: sources.shipping, top_source_id: sources.shipping });
    expect(data.cases[0].score).toBeGreaterThan(0);
    expect(data.cases[2].top_source_id).toBe(ranked[0].source_id);
    expect(data.cases[3]).toMatchObject({ rank: null, score: null, top_source_id: null });
    const round = (value: number) => Math.round(value * 10_000) / 10_000;
    expect(data).toMatchObject({
      assistant_id: assistants.librarian,
      total: 4,
      found: 3,
      depth: 20,
      recall_at_1: 0.5,
      recall_at_5: runnerUpRank <= 5 ? 0.75 : 0.5,
      mrr: round((1 + 1 + 1 / runnerUpRank + 0) / 4),
    });
    expect(body.detail).toBe(`Evaluated 4 questions: recall@1 0.5, recall@5 ${data.recall_at_5}, MRR ${data.mrr}`);
  });

  test('a source no search can find ranks null and says why: scoped to other assistants, or not indexed', async () => {
    const cases = [{ question: 'What is the staff discount code?', expected_source_id: sources.staffDiscount }];
    const asStaff = await evaluate({ assistant_id: assistants.staff, cases });
    expect(asStaff.body.data).toMatchObject({ recall_at_1: 1, mrr: 1, cases: [{ rank: 1, reason: null }] });
    const asLibrarian = await evaluate({ assistant_id: assistants.librarian, cases });
    expect(asLibrarian.body.data).toMatchObject({ recall_at_1: 0, recall_at_5: 0, mrr: 0, found: 0, cases: [{ rank: null }] });
    expect(asLibrarian.body.data.cases[0].reason).toMatch(/serves other assistants only/);
    const asNone = await evaluate({ cases });
    expect(asNone.body.data.cases[0].reason).toMatch(/pass assistant_id/);

    // A page that cannot be fetched (a private address) fails to index.
    const page = await t.json('POST', '/api/v1/knowledge/urls/', { body: { url: 'http://127.0.0.1:9/opening-hours', title: 'Opening hours' } });
    expect(page.status).toBe(202);
    for (let i = 0; (await t.json('GET', `/api/v1/knowledge/urls/${page.body.data.id}`)).body.data.status !== 'failed'; i++) {
      if (i > 300) throw new Error('the page never failed');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const failed = await evaluate({ cases: [{ question: 'Opening hours', expected_source_id: page.body.data.id }] });
    expect(failed.body.data.cases[0]).toMatchObject({ rank: null });
    expect(failed.body.data.cases[0].reason).toMatch(/could not be indexed: \S/);
    // Retrieval that merely misses gives no reason: that is what the evaluation measures.
    const missed = await evaluate({ cases: [{ question: 'Which telescope resolves Jupiter\'s moons?', expected_source_id: sources.hours }] });
    expect(missed.body.data.cases[0]).toMatchObject({ rank: null, reason: null });
  });

  test('an organization\'s evaluations sent at once run one after another, not interleaved', async () => {
    const set = (tag: string) => ({
      cases: Array.from({ length: 8 }, (_, i) => ({ question: `${tag} business hours ${i}`, expected_source_id: sources.hours })),
    });
    t.ollama.requests.length = 0;
    const replies = await Promise.all([evaluate(set('alpha')), evaluate(set('beta'))]);
    for (const reply of replies) expect(reply.body.data).toMatchObject({ total: 8, found: 8 });
    // Each question is embedded once, as a reply would embed it: the order of the embeddings is the order of the questions.
    const asked = t.ollama.requests
      .filter((r) => r.path === '/api/embed')
      .map((r) => JSON.stringify(r.body))
      .filter((body) => /alpha|beta/.test(body))
      .map((body) => (body.includes('alpha') ? 'alpha' : 'beta'));
    expect(asked).toHaveLength(16);
    expect(asked[0]).not.toBe(asked[8]);
    expect(asked).toEqual([...Array<string>(8).fill(asked[0]), ...Array<string>(8).fill(asked[8])]);
  });

  test('input errors answer 422 naming the field: at most 500 cases, questions of at most 2,000 characters', async () => {
    const one = { question: 'What are your business hours?', expected_source_id: sources.hours };
    const cases: Array<[unknown, string, RegExp]> = [
      [{}, 'cases', /required/],
      [{ cases: [] }, 'cases', /at least one/],
      [{ cases: Array.from({ length: 501 }, () => one) }, 'cases', /at most 500/],
      [{ cases: [one, { question: 'x'.repeat(2001), expected_source_id: sources.hours }] }, 'cases.1.question', /at most 2000/],
      [{ cases: [{ question: ' ', expected_source_id: sources.hours }] }, 'cases.0.question', /must not be empty/],
      [{ cases: [{ question: 'Hours?' }] }, 'cases.0.expected_source_id', /required/],
      [{ cases: [{ ...one, expected: sources.hours }] }, 'cases.0.expected', /not a field/],
      [{ cases: [42] }, 'cases.0', /JSON object/],
    ];
    for (const [body, field, message] of cases) {
      const reply = await evaluate(body);
      expect(reply.status, JSON.stringify(body).slice(0, 80)).toBe(422);
      expect(reply.body).toMatchObject({ status: 'error', status_code: 422 });
      expect(reply.body.data.errors).toEqual([{ field, message: expect.stringMatching(message) }]);
    }
    // The cases alone, without the object around them.
    const bare = await evaluate([one]);
    expect(bare.status).toBe(400);
    expect(bare.body.detail).toMatch(/must be a JSON object .*, not a list/);
    // Refused before any question is asked.
    t.ollama.requests.length = 0;
    expect((await evaluate({ cases: Array.from({ length: 501 }, () => one) })).status).toBe(422);
    expect(t.ollama.requests.filter((r) => r.path === '/api/embed')).toEqual([]);
  });

  test('an expected source that is unknown or another organization\'s answers 404 naming the case, the same for both', async () => {
    const replyFor = (id: string) =>
      evaluate({ cases: [{ question: 'What are your business hours?', expected_source_id: sources.hours }, { question: 'Password?', expected_source_id: id }] });
    const foreign = await replyFor(sources.theirPassword);
    const missing = await replyFor(randomUUID());
    const garbled = await replyFor('not-a-source');
    expect(foreign.status).toBe(404);
    expect(foreign.body).toMatchObject({ status: 'error', status_code: 404, data: null });
    expect(foreign.body.detail).toMatch(/expected by cases\.1/);
    const normalise = (reply: { body: { detail: string } }, id: string) => reply.body.detail.replace(id, '<id>');
    expect(normalise(foreign, sources.theirPassword)).toBe(normalise(missing, missing.body.detail.match(/"([^"]+)"/)![1]));
    expect(garbled.status).toBe(404);
  });
});

describe('both endpoints', () => {
  test('an unknown, malformed or another organization\'s assistant_id answers 404, the same for each', async () => {
    const foreignAssistant = (await t.json('POST', '/api/v1/assistants/', { body: { name: 'Globex bot' }, auth: t.otherOrg })).body.data.id;
    const missing = randomUUID();
    const calls = [
      (id: string) => search({ query: 'hours', assistant_id: id }),
      (id: string) => evaluate({ assistant_id: id, cases: [{ question: 'Hours?', expected_source_id: sources.hours }] }),
    ];
    for (const call of calls) {
      const foreign = await call(foreignAssistant);
      const unknown = await call(missing);
      const garbled = await call('assistant-1');
      for (const reply of [foreign, unknown, garbled]) {
        expect(reply.status).toBe(404);
        expect(reply.body).toMatchObject({ status: 'error', status_code: 404, data: null });
      }
      expect(foreign.body.detail.replace(foreignAssistant, '<id>')).toBe(unknown.body.detail.replace(missing, '<id>'));
    }
  });

  test('without credentials they answer 401; a widget token gets 403, over REST and GraphQL', async () => {
    const body = { query: 'hours' };
    const cases = { cases: [{ question: 'Hours?', expected_source_id: sources.hours }] };
    expect((await search(body, null)).status).toBe(401);
    expect((await evaluate(cases, null)).status).toBe(401);
    const token = (await t.json('POST', '/api/v1/auth/widget-token', { body: { client_id: t.org.clientId }, auth: null })).body.token;
    for (const reply of [await search(body, { token }), await evaluate(cases, { token })]) {
      expect(reply.status).toBe(403);
      expect(reply.body).toMatchObject({ status: 'error', status_code: 403, data: null });
    }
    const widget = { Authorization: `Bearer ${token}` };
    for (const [field, query] of [
      ['searchKnowledge', 'query { searchKnowledge(input: { query: "hours" }) { passages { text } } }'],
      ['evaluateKnowledge', 'query ($id: ID!) { evaluateKnowledge(input: { cases: [{ question: "Hours?", expectedSourceId: $id }] }) { mrr } }'],
    ]) {
      const graphql = await t.graphql(query, { id: sources.hours }, widget);
      expect(graphql.body.data?.[field] ?? null, field).toBeNull();
      expect(graphql.body.errors?.[0].extensions.code, field).toBe('FORBIDDEN');
    }
  });

  test('GraphQL searchKnowledge and evaluateKnowledge answer what REST does', async () => {
    const rest = await search({ query: 'How long does international delivery take?', assistant_id: assistants.librarian, limit: 3 });
    const graphql = await t.graphql(
      `query ($assistantId: ID!, $expected: ID!) {
        searchKnowledge(input: { query: "How long does international delivery take?", assistantId: $assistantId, limit: 3 }) {
          query assistantId searched passages { rank sourceId kind title url heading snippet text score }
        }
        evaluateKnowledge(input: { assistantId: $assistantId, cases: [{ question: "How long does international delivery take?", expectedSourceId: $expected }] }) {
          assistantId total found recallAt1 recallAt5 mrr depth cases { question expectedSourceId rank score topSourceId }
        }
      }`,
      { assistantId: assistants.librarian, expected: sources.shipping },
    );
    expect(graphql.body.errors).toBeUndefined();
    const { searchKnowledge, evaluateKnowledge } = graphql.body.data;
    expect(searchKnowledge).toMatchObject({ query: rest.body.data.query, assistantId: assistants.librarian, searched: true });
    expect(searchKnowledge.passages).toEqual(
      rest.body.data.passages.map((p: Record<string, unknown>) => ({
        rank: p.rank,
        sourceId: p.source_id,
        kind: p.kind,
        title: p.title,
        url: p.url,
        heading: p.heading,
        snippet: p.snippet,
        text: p.text,
        score: p.score,
      })),
    );
    expect(evaluateKnowledge).toMatchObject({ total: 1, found: 1, recallAt1: 1, recallAt5: 1, mrr: 1, depth: 20 });
    expect(evaluateKnowledge.cases).toEqual([
      { question: 'How long does international delivery take?', expectedSourceId: sources.shipping, rank: 1, score: expect.any(Number), topSourceId: sources.shipping },
    ]);
  });
});

describe('on PostgreSQL', () => {
  test('an evaluation ranks, scopes and explains as on the embedded database', async () => {
    const ollama = await startOllamaDouble({ models: ['llama3.2', 'nomic-embed-text'] });
    const schema = await throwawaySchema('gateway_search');
    const db = await openDatabase({ databaseUrl: schema.url });
    const app = buildApp({ config: loadConfig({ OLLAMA_HOST: ollama.url, DATABASE_URL: schema.url }), db, llm: createLlm({ host: ollama.url }) });
    try {
      const created = await app.services.organizations.create({ name: 'Acme' });
      const headers = { ...authHeaders({ ...created }), 'Content-Type': 'application/json' };
      const call = async (method: string, path: string, body?: unknown) => {
        const response = await app.fetch(new Request(`http://gateway.test${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
        return { status: response.status, body: (await response.json()) as any };
      };
      const bot = (await call('POST', '/api/v1/assistants/', { name: 'Staff helper' })).body.data.id;
      const hours = (await call('POST', '/api/v1/knowledge/qa/', { question: 'What are your business hours?', answer: 'Monday to Friday, 9 AM to 6 PM.' })).body.data.id;
      const discount = (await call('POST', '/api/v1/knowledge/qa/', { question: 'What is the staff discount code?', answer: 'TEAM-25.', assistant_ids: [bot] })).body.data.id;
      for (const id of [hours, discount]) {
        for (let i = 0; (await call('GET', `/api/v1/knowledge/qa/${id}`)).body.data.status !== 'ready'; i++) {
          if (i > 300) throw new Error(`${id} never became ready`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      const cases = [
        { question: 'What are your business hours?', expected_source_id: hours },
        { question: 'What is the staff discount code?', expected_source_id: discount },
      ];
      const shared = await call('POST', '/api/v1/knowledge/evaluations', { cases });
      expect(shared.status).toBe(200);
      expect(shared.body.data).toMatchObject({ total: 2, found: 1, recall_at_1: 0.5, mrr: 0.5, cases: [{ rank: 1, reason: null }, { rank: null }] });
      expect(shared.body.data.cases[1].reason).toMatch(/pass assistant_id/);
      const asBot = await call('POST', '/api/v1/knowledge/evaluations', { assistant_id: bot, cases });
      expect(asBot.body.data).toMatchObject({ found: 2, recall_at_1: 1, mrr: 1 });
      const searched = await call('POST', '/api/v1/knowledge/search', { query: 'What is the staff discount code?', assistant_id: bot });
      expect(searched.body.data.passages[0]).toMatchObject({ rank: 1, source_id: discount, kind: 'qa' });
    } finally {
      await app.close();
      await db.close();
      await schema.drop();
      await ollama.close();
    }
  }, 120_000);
});

describe('npm run cli -- knowledge eval', () => {
  /** The whole of stdout as JSON. */
  function json(result: Run): any {
    expect(result, result.stderr).toMatchObject({ code: 0 });
    return JSON.parse(result.stdout);
  }

  test('prints a table of each case\'s rank and the summary, or JSON, through a running server and without one', async () => {
    const temp = await tempDir('gateway-eval-test-');
    try {
      const env = { DATA_DIR: temp.dir };
      const created = json(await cli(['org', 'create', '--name', 'Acme', '--json'], env));
      const org = { clientId: created.client_id, clientSecret: created.client_secret };
      const server = await startServer(env);
      const bot = (await api(server, org, 'POST', '/api/v1/assistants/', { name: 'Staff helper' })).body.data.id as string;
      const add = async (body: Record<string, unknown>) => {
        const added = await api(server, org, 'POST', '/api/v1/knowledge/qa/', body);
        expect(added.status).toBe(202);
        const id = added.body.data.id as string;
        for (let i = 0; (await api(server, org, 'GET', `/api/v1/knowledge/qa/${id}`)).body.data.status !== 'ready'; i++) {
          if (i > 200) throw new Error('the Q&A pair never became ready');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return id;
      };
      const hours = await add({ question: 'What are your business hours?', answer: 'Monday to Friday, 9 AM to 6 PM.' });
      const discount = await add({ question: 'What is the staff discount code?', answer: 'TEAM-25.', assistant_ids: [bot] });
      const file = path.join(temp.dir, 'cases.json');
      await writeFile(
        file,
        JSON.stringify({
          cases: [
            { question: 'What are your business hours?', expected_source_id: hours },
            { question: 'Which telescope resolves Jupiter\'s moons?', expected_source_id: hours },
            { question: 'What is the staff discount code?', expected_source_id: discount },
          ],
        }),
      );
      const args = ['knowledge', 'eval', '--org', created.organization_id, '--file', file];

      // Through the server's control socket.
      const table = await cli(args, env);
      expect(table, table.stderr).toMatchObject({ code: 0 });
      const lines = table.stdout.split('\n');
      expect(lines[0]).toMatch(/^question\s+expected\s+rank\s+note$/);
      expect(lines[1]).toMatch(new RegExp(`^What are your business hours\\?\\s+${hours}\\s+1$`));
      expect(lines[2]).toMatch(new RegExp(`^Which telescope resolves Jupiter's moons\\?\\s+${hours}\\s+-$`));
      expect(lines[3]).toMatch(new RegExp(`^What is the staff discount code\\?\\s+${discount}\\s+-\\s+The source serves chosen assistants only`));
      expect(table.stdout).toMatch(/3 questions, 1 found/);
      expect(table.stdout).toMatch(/recall@1\s+0\.333/);
      expect(table.stdout).toMatch(/recall@5\s+0\.333/);
      expect(table.stdout).toMatch(/MRR\s+0\.333/);
      // Asked as the assistant the pair serves.
      const asBot = json(await cli([...args, '--assistant', bot, '--json'], env));
      expect(asBot).toMatchObject({ assistant_id: bot, total: 3, found: 2, recall_at_1: 0.6667, mrr: 0.6667 });
      // The file may name the assistant as the REST body does.
      const scopedFile = path.join(temp.dir, 'scoped.json');
      await writeFile(scopedFile, JSON.stringify({ assistant_id: bot, cases: [{ question: 'What is the staff discount code?', expected_source_id: discount }] }));
      const scoped = json(await cli(['knowledge', 'eval', '--org', created.organization_id, '--file', scopedFile, '--json'], env));
      expect(scoped).toMatchObject({ assistant_id: bot, recall_at_1: 1, cases: [{ rank: 1, top_source_id: discount }] });
      const viaServer = json(await cli([...args, '--json'], env));
      expect(viaServer).toMatchObject({ assistant_id: null, total: 3, found: 1, recall_at_1: 0.3333, recall_at_5: 0.3333, mrr: 0.3333, depth: 20 });
      expect(viaServer.cases).toEqual([
        { question: 'What are your business hours?', expected_source_id: hours, rank: 1, score: expect.any(Number), top_source_id: hours, reason: null, rewritten_question: null },
        { question: 'Which telescope resolves Jupiter\'s moons?', expected_source_id: hours, rank: null, score: null, top_source_id: null, reason: null, rewritten_question: null },
        {
          question: 'What is the staff discount code?',
          expected_source_id: discount,
          rank: null,
          score: null,
          top_source_id: null,
          reason: expect.stringMatching(/serves chosen assistants only/),
          rewritten_question: null,
        },
      ]);
      // The same figures as the REST endpoint.
      const rest = await api(server, org, 'POST', '/api/v1/knowledge/evaluations', {
        cases: viaServer.cases.map(({ question, expected_source_id }: Record<string, unknown>) => ({ question, expected_source_id })),
      });
      expect(rest.body.data).toEqual(viaServer);
      expect(await server.stop()).toEqual({ code: 0, signal: null });

      // Without a server, the CLI opens the folder itself.
      expect(json(await cli([...args, '--json'], env))).toEqual(viaServer);

      // Mistakes say what to fix.
      const unknown = await cli(['knowledge', 'eval', '--org', created.organization_id, '--file', path.join(temp.dir, 'missing.json')], env);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/missing\.json could not be read as JSON \(no such file\)/);
      await writeFile(file, JSON.stringify([{ question: 'Hours?' }]));
      const invalid = await cli(args, env);
      expect(invalid.code).toBe(1);
      expect(invalid.stderr).toMatch(/cases\.0\.expected_source_id is required/);
      await writeFile(file, JSON.stringify(Array.from({ length: 501 }, () => ({ question: 'Hours?', expected_source_id: hours }))));
      const tooMany = await cli(args, env);
      expect(tooMany.code).toBe(2);
      expect(tooMany.stderr).toMatch(/holds 501 cases; an evaluation takes at most 500/);
      const noFile = await cli(['knowledge', 'eval', '--org', created.organization_id], env);
      expect(noFile.code).toBe(2);
      expect(noFile.stderr).toMatch(/--file is required/);
    } finally {
      await killAll();
      await temp.remove();
    }
  }, 180_000);
});
