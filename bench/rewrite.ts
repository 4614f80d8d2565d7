// Question rewrite: what an assistant's `rewrite_questions` costs before the
// first token. Two assistants answer from the same knowledge base, one with the
// rewrite on; the same questions go to each, one at a time, through
// POST /sessions/{id}/messages. The time before generation runs from the client
// sending the message to the Ollama double receiving the reply's /api/chat; with
// the rewrite, the double first answers the rewrite request (the same fixed
// number of tokens at a fixed pace), whose own duration is reported beside, so
// that the gateway's share of the cost shows apart from the model's.
// With a real model the model's share is one prompt evaluation (a few hundred
// tokens) plus up to 48 generated tokens.
import type { BenchConfig } from './config.ts';
import { tempDir } from './lib/children.ts';
import { now } from './lib/clock.ts';
import { startDouble, type ChatRecord, type Double } from './lib/double.ts';
import { FigureSet, type Figure } from './lib/figures.ts';
import { raiseRateLimit, startGateway, type Gateway } from './lib/gateway-process.ts';
import { http, type Auth } from './lib/http.ts';
import { percentile } from './lib/stats.ts';

const QUESTIONS = [
  'What are your opening hours on weekdays?',
  'Can I return shoes I have already worn outside?',
  'How long does a parcel to Canada take?',
  'Do you charge for delivery to another country?',
  'Is there a discount for a second pair?',
];

const isRewrite = (chat: ChatRecord) => chat.user.includes('Latest question:');

export async function rewriteSection(config: BenchConfig, log: (line: string) => void): Promise<Figure[]> {
  const { messages, tokens, tokenDelayMs } = config.rewrite;
  const figures = new FigureSet('rewrite');
  const data = tempDir('rewrite');
  let double: Double | undefined;
  let gateway: Gateway | undefined;
  try {
    double = await startDouble();
    await double.configure({ tokens, tokenDelayMs });
    gateway = await startGateway({ label: 'gateway', dataDir: data.dir, ollamaHost: double.url });
    const auth = gateway.credentials;
    if (!auth) throw new Error('The first start printed no credentials.');
    await raiseRateLimit(data.dir, auth.organizationId);
    await addKnowledge(gateway.url, auth);
    const assistants = {
      off: await createAssistant(gateway.url, auth, false),
      on: await createAssistant(gateway.url, auth, true),
    };
    for (let run = 1; run <= config.runs; run++) {
      const waits: Record<'off' | 'on', number[]> = { off: [], on: [] };
      const rewriteModel: number[] = [];
      for (let i = 0; i < messages; i++) {
        for (const mode of ['off', 'on'] as const) {
          await double.drain();
          const session = await http('POST', `${gateway.url}/api/v1/sessions`, { auth, body: { assistant_id: assistants[mode] } });
          const sentAt = now();
          const reply = await http('POST', `${gateway.url}/api/v1/sessions/${session.body.data.id}/messages`, { auth, body: { content: QUESTIONS[i % QUESTIONS.length] } });
          if (reply.status !== 201) throw new Error(`A message got ${reply.status}: ${reply.text.slice(0, 300)}`);
          const chats = await double.drain();
          const answer = chats.find((chat) => !isRewrite(chat));
          const rewrite = chats.find(isRewrite);
          if (!answer) throw new Error('The double saw no reply request.');
          if ((mode === 'on') !== Boolean(rewrite)) throw new Error(`Rewrite ${mode}, but the double saw ${rewrite ? 'a' : 'no'} rewrite request.`);
          waits[mode].push(answer.receivedAt - sentAt);
          if (rewrite) rewriteModel.push(rewrite.endedAt - rewrite.receivedAt);
        }
      }
      const off = percentile(waits.off, 50);
      const on = percentile(waits.on, 50);
      const model = percentile(rewriteModel, 50);
      log(`run ${run}: before generation p50 ${off.toFixed(1)} ms without, ${on.toFixed(1)} ms with the rewrite (the double's rewrite itself: ${model.toFixed(1)} ms)`);
      figures.add('pre.off', 'before generation p50, rewrite off', 'ms', off);
      figures.add('pre.on', 'before generation p50, rewrite on', 'ms', on);
      figures.add('added', 'added by the rewrite p50', 'ms', on - off);
      figures.add('model', `of which the model's (the double: ${tokens} tokens, ${tokenDelayMs} ms apart)`, 'ms', model);
      figures.add('gateway', 'of which the gateway\'s', 'ms', on - off - model);
    }
    return figures.list();
  } finally {
    await Promise.allSettled([gateway?.stop(), double?.close()]);
    data.remove();
  }
}

async function addKnowledge(url: string, auth: Auth) {
  const pairs = [
    ['What are your business hours?', 'We are open Monday to Friday, 9 AM to 6 PM.'],
    ['What is your return policy?', 'Unworn items can be returned within 30 days for a full refund.'],
    ['How long does international shipping take?', 'International orders arrive within 7 to 14 business days.'],
  ];
  const ids: string[] = [];
  for (const [question, answer] of pairs) {
    const created = await http('POST', `${url}/api/v1/knowledge/qa/`, { auth, body: { question, answer } });
    if (created.status !== 202) throw new Error(`Adding a Q&A pair got ${created.status}: ${created.text.slice(0, 300)}`);
    ids.push(created.body.data.id);
  }
  const deadline = Date.now() + 60_000;
  for (const id of ids) {
    for (;;) {
      const source = await http('GET', `${url}/api/v1/knowledge/qa/${id}`, { auth });
      if (source.body?.data?.status === 'ready') break;
      if (source.body?.data?.status === 'failed' || Date.now() > deadline) throw new Error(`A Q&A pair was not indexed: ${source.text.slice(0, 300)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function createAssistant(url: string, auth: Auth, rewrite: boolean): Promise<string> {
  const created = await http('POST', `${url}/api/v1/assistants/`, { auth, body: { name: rewrite ? 'Rewriting' : 'Literal', rewrite_questions: rewrite } });
  if (created.status !== 201) throw new Error(`Creating an assistant got ${created.status}: ${created.text.slice(0, 300)}`);
  return created.body.data.id;
}
