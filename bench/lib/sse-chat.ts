// One chat over REST server-sent events (POST /api/v1/sessions/{id}/messages with
// Accept: text/event-stream), timed on the shared clock, and what the gateway added to it,
// read against what the Ollama double recorded of the same chat (matched by its text).
import type { ChatRecord } from './double.ts';
import { now } from './clock.ts';
import { postEventStream, type Auth } from './http.ts';

/** What the client saw of one chat: when it sent, each token's arrival, the done event. */
export type SseChat = { tag: string; t0: number; tokens: number[]; done: number; replyId: string };

/** Sends `tag` as the message (it must be unique: it is how the double's record is found); rejects unless the stream ends with done. */
export async function sseChat(baseUrl: string, auth: Auth, sessionId: string, tag: string): Promise<SseChat> {
  const tokens: number[] = [];
  let done = Number.NaN;
  let replyId = '';
  let failure = '';
  const t0 = now();
  const reply = await postEventStream(`${baseUrl}/api/v1/sessions/${sessionId}/messages`, auth, { content: tag }, (event) => {
    if (event.event === 'token') tokens.push(event.at);
    else if (event.event === 'start') replyId = JSON.parse(event.data).assistant_message?.id ?? '';
    else if (event.event === 'done') done = event.at;
    else if (event.event === 'error') failure = event.data;
  });
  if (reply.status !== 200 || failure || Number.isNaN(done)) {
    throw new Error(`A REST event stream from ${baseUrl} answered ${reply.status}: ${failure || reply.text.slice(0, 500) || 'no done event'}`);
  }
  return { tag, t0, tokens, done, replyId };
}

/**
 * Pre-generation (client sends → the double is asked) and per-token relay (the double writes a
 * token → the client reads it) of chats, in ms. Throws when a chat is missing from the
 * double's records or lost tokens: a figure over broken chats would mean nothing.
 */
export function chatSamples(chats: SseChat[], records: ChatRecord[], tokens: number): { preGen: number[]; relay: number[] } {
  const byTag = new Map(records.map((record) => [record.user, record]));
  const preGen: number[] = [];
  const relay: number[] = [];
  for (const chat of chats) {
    const record = byTag.get(chat.tag);
    if (!record) throw new Error(`The double never received the chat "${chat.tag}".`);
    if (record.aborted || record.chunks.length !== tokens) throw new Error(`The double sent ${record.chunks.length} of ${tokens} tokens for "${chat.tag}" (aborted: ${record.aborted}).`);
    if (chat.tokens.length !== tokens) throw new Error(`The client received ${chat.tokens.length} of ${tokens} tokens for "${chat.tag}".`);
    preGen.push(record.receivedAt - chat.t0);
    chat.tokens.forEach((at, j) => relay.push(at - record.chunks[j]));
  }
  return { preGen, relay };
}
