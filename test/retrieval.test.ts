// Which passages a reply is given, through the documented endpoints: ranking by
// term rarity with title and heading weights, a cut-off relative to the best hit
// instead of a share of the question's words, nothing cited when the knowledge
// base only shares common words with the question, and the same ranking on
// PGlite and PostgreSQL. Lexical retrieval alone (the double has no embedding
// model), so that only the ranking decides.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestApp, type TestApp } from './utils/app.ts';
import { throwawaySchema } from './utils/postgres.ts';

/** A shop's help centre, as Markdown files. */
const DOCUMENTS = [
  { title: 'Tent care', text: '# Caring for your tent\n\nNever pack a tent away wet: mildew ruins the coating within days. Dry it fully, clean the zips with a soft brush and store it loosely in a cool place.' },
  { title: 'Trail Club', text: '# Trail Club\n\nMembership of the Trail Club is free. Members earn one point per euro spent; 100 points give a 5 euro voucher.' },
  { title: 'Delivery charges', text: '# Delivery\n\nStandard delivery costs 4.95 and is free on orders over 75. Express delivery arrives the next working day when ordered before 2 PM.' },
  { title: 'Returns', text: '# Returns\n\nUnworn items can be returned within 60 days of delivery for a full refund. Print the prepaid label from your account page.' },
  { title: 'Stove safety', text: '# Using camping stoves safely\n\nNever cook inside a closed tent: stoves produce carbon monoxide. Cook in the open or under a well-ventilated porch.' },
  { title: 'Closing your account', text: '# Privacy\n\nTo erase your personal data, open Privacy in your profile and confirm by e-mail.' },
  { title: 'Hosting', text: '# Our servers\n\nWe keep personal data on servers in the EU, and never sell it to third parties.' },
];

/** Settings pages that all say "change ... in your account settings". */
const SETTINGS = ['e-mail address', 'password', 'language', 'time zone', 'profile picture', 'delivery address', 'phone number', 'newsletter subscription',
  'display name', 'currency', 'payment card', 'invoice address', 'notification sounds', 'privacy options', 'two saved searches', 'date format',
  'home shop', 'size preferences', 'birthday', 'marketing consent'];

type Source = { source_id: string; title: string; score: number; snippet: string };

async function upload(app: TestApp, title: string, text: string): Promise<string> {
  const form = new FormData();
  form.append('title', title);
  form.append('file_type', 'md');
  form.append('file', new Blob([text]), `${title}.md`);
  const response = await app.app.fetch(
    new Request('http://gateway.test/api/v1/knowledge/files/', {
      method: 'POST',
      headers: { 'X-API-Key': app.org.clientId, 'X-API-Secret': app.org.clientSecret },
      body: form,
    }),
  );
  expect(response.status).toBe(202);
  return (await response.json()).data.id;
}

async function settled(app: TestApp, kind: 'files' | 'qa', id: string) {
  for (let i = 0; i < 600; i++) {
    const { body } = await app.json('GET', `/api/v1/knowledge/${kind}/${id}`);
    if (body.data.status === 'ready') return;
    if (body.data.status === 'failed') throw new Error(`source ${id} failed: ${body.data.error}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`source ${id} never settled`);
}

async function helpCentre(app: TestApp, documents = DOCUMENTS): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const { title, text } of documents) ids.set(title, await upload(app, title, text));
  for (const id of ids.values()) await settled(app, 'files', id);
  return ids;
}

async function ask(app: TestApp, assistantId: string, question: string): Promise<{ sources: Source[]; system: string }> {
  const session = await app.json('POST', '/api/v1/sessions', { body: { assistant_id: assistantId } });
  const sent = await app.json('POST', `/api/v1/sessions/${session.body.data.id}/messages`, { body: { content: question } });
  expect(sent.status).toBe(201);
  const chat = app.ollama.requests.filter((r) => r.path === '/api/chat').at(-1)!;
  const system = (chat.body as { messages: Array<{ content: string }> }).messages[0].content;
  return { sources: sent.body.data.assistant_message.sources, system };
}

const lexicalOnly = { ollama: { models: ['llama3.2'] } };

describe('ranking on PGlite', () => {
  let t: TestApp;
  let assistantId: string;
  let ids: Map<string, string>;

  beforeAll(async () => {
    t = await createTestApp(lexicalOnly);
    assistantId = (await t.json('POST', '/api/v1/assistants', { body: { name: 'Helper' } })).body.data.id;
    ids = await helpCentre(t);
    const pairs = await Promise.all(
      SETTINGS.map((setting) =>
        t.json('POST', '/api/v1/knowledge/qa/', { body: { question: `How do I change my ${setting}?`, answer: `Change your ${setting} in your account settings.` } }),
      ),
    );
    for (const pair of pairs) await settled(t, 'qa', pair.body.data.id);
  });
  afterAll(() => t.close());

  test('a question asked in other words than the document finds it', async () => {
    // Two of its seven terms are the document's ("tent", "away"): a share of the question's words under a half.
    const { sources } = await ask(t, assistantId, 'How should I put my tent away after a rainy trip so it does not go mouldy?');
    expect(sources[0]).toMatchObject({ source_id: ids.get('Tent care'), title: 'Tent care' });
  });

  test('a long question whose rare words a short passage holds is answered from it', async () => {
    const { sources } = await ask(t, assistantId, 'What would the yearly price of joining the Trail Club be for my whole family?');
    expect(sources[0]).toMatchObject({ source_id: ids.get('Trail Club') });
    expect(sources[0].snippet).toContain('Membership of the Trail Club is free.');
  });

  test('rare words outrank common ones: the document about the thing asked comes first', async () => {
    // "delivery" is in three documents, "express" in one.
    const { sources } = await ask(t, assistantId, 'Is express delivery possible?');
    expect(sources[0].source_id).toBe(ids.get('Delivery charges'));
    expect(sources[0].score).toBeGreaterThan(0.5);
  });

  test("a word the knowledge base never uses is stood in for by its synonyms: 'delete' finds the page that says 'erase'", async () => {
    const { sources } = await ask(t, assistantId, 'How do I delete my personal data?');
    expect(sources[0].source_id).toBe(ids.get('Closing your account'));
  });

  test('a knowledge base that shares only common words with the question gives no sources, and the prompt says nothing matched', async () => {
    // Twenty pages say "change ... account settings"; none knows the cluster the question is about.
    const { sources, system } = await ask(t, assistantId, 'How do I change the account settings of my Kafka cluster?');
    expect(sources).toEqual([]);
    expect(system).toContain("Nothing in the organization's knowledge base matches this message.");
    // The same words with the subject a page is about are answered from that page.
    const answered = await ask(t, assistantId, 'How do I change my time zone in the account settings?');
    expect(answered.sources[0].snippet).toContain('Change your time zone in your account settings.');
  });
});

describe('PGlite and PostgreSQL', () => {
  test('rank the same passages with the same scores, also after a document is deleted', { timeout: 120_000 }, async () => {
    const schema = await throwawaySchema('gateway_retrieval');
    const pglite = await createTestApp(lexicalOnly);
    const postgres = await createTestApp({ ...lexicalOnly, databaseUrl: schema.url });
    try {
      const rankings = async (app: TestApp) => {
        const assistantId = (await app.json('POST', '/api/v1/assistants', { body: { name: 'Helper' } })).body.data.id;
        const rounds: Array<Array<[string, number]>> = [];
        for (const question of ['How should I put my tent away after a rainy trip?', 'Is delivery free?', 'Can I cook in my tent?']) {
          const { sources } = await ask(app, assistantId, question);
          rounds.push(sources.map((source) => [source.title, source.score]));
        }
        return rounds;
      };
      await helpCentre(pglite);
      // On PostgreSQL, one more document that mentions tents, deleted again: its terms must stop counting.
      const extra = { title: 'Tent sale', text: '# Tent sale\n\nEvery tent is 20 percent off this week; tents away from the shop floor are in the warehouse.' };
      const postgresIds = await helpCentre(postgres, [...DOCUMENTS, extra]);
      expect((await postgres.json('DELETE', `/api/v1/knowledge/files/${postgresIds.get('Tent sale')}`)).status).toBe(200);

      const [onPglite, onPostgres] = [await rankings(pglite), await rankings(postgres)];
      expect(onPglite[0][0][0]).toBe('Tent care');
      expect(onPglite.flat().length).toBeGreaterThan(3);
      expect(onPostgres).toEqual(onPglite);
    } finally {
      await postgres.close();
      await pglite.close();
      await schema.drop();
    }
  });
});
