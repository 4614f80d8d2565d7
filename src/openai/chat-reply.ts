// Replies of POST /v1/chat/completions in OpenAI's shapes: one
// `chat.completion` object, or `chat.completion.chunk` server-sent events
// ending with `data: [DONE]`. Two fields are ours: `sources` (the passages
// the reply was grounded in) on the message, and on the delta of the chunk
// that carries finish_reason, so that the SDK's stream helpers, which merge
// deltas into a message, end with message.sources too; and `conversation_id`,
// the stored conversation that holds the exchange.
import { UNREAD_EVENTS_MAX } from '../services/chat-events.ts';
import type { Message } from '../services/chat.ts';
import { sourcesOf, usageOf } from '../http/message-json.ts';
import { EVENT_STREAM_KEEP_ALIVE, streamedBody } from '../http/streamed-body.ts';
import { createPushQueue } from '../lib/push-queue.ts';

/** What every object of one reply shares. */
export type ReplyHeader = { conversationId: string; model: string; created: number };

const idOf = (conversationId: string) => `chatcmpl-${conversationId}`;

export function completionBody({ conversationId, model, created }: ReplyHeader, reply: Message) {
  return {
    id: idOf(conversationId),
    object: 'chat.completion',
    created,
    model,
    conversation_id: conversationId,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: reply.content, refusal: null, sources: sourcesOf(reply) },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: usageOf(reply),
  };
}

export type ChunkOptions = ReplyHeader & { includeUsage: boolean };

/** The chunks of one streamed reply, in order. */
export function chunks({ conversationId, model, created, includeUsage }: ChunkOptions) {
  const chunk = (delta: Record<string, unknown>, finishReason: string | null) => ({
    id: idOf(conversationId),
    object: 'chat.completion.chunk',
    created,
    model,
    conversation_id: conversationId,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    // With include_usage, OpenAI writes usage: null on every chunk but the last.
    ...(includeUsage ? { usage: null } : {}),
  });
  return {
    role: () => chunk({ role: 'assistant', content: '' }, null),
    content: (delta: string) => chunk({ content: delta }, null),
    finish: (reply: Message) => chunk({ sources: sourcesOf(reply) }, 'stop'),
    /** Sent only with include_usage, after the finish chunk: no choices, the whole reply's usage. */
    usage: (reply: Message) => ({ ...chunk({}, null), choices: [], usage: usageOf(reply) }),
  };
}

/** A server-sent-event body written as the reply is generated. */
export function eventStream(onCancel: () => void) {
  let open = true;
  const ended: Array<() => void> = [];
  const end = () => {
    if (!open) return;
    open = false;
    for (const listener of ended.splice(0)) listener();
  };
  const queue = createPushQueue<string>({
    limit: UNREAD_EVENTS_MAX,
    onStart: () => {},
    // The client left (or was too slow, below): the generation stops.
    onReturn: () => {
      end();
      onCancel();
    },
  });
  const leave = async () => void (await queue.items.return?.());
  const write = (text: string) => {
    if (open && !queue.push(text)) void leave();
  };
  const body = streamedBody({
    next: async () => {
      const item = await queue.items.next();
      return item.done ? null : item.value;
    },
    cancel: leave,
    keepAlive: EVENT_STREAM_KEEP_ALIVE,
  });
  return {
    body,
    send: (data: unknown) => write(`data: ${JSON.stringify(data)}\n\n`),
    /** Runs once the stream has ended, by its close or by the client leaving (at once if it has). */
    onEnd(listener: () => void) {
      if (open) ended.push(listener);
      else listener();
    },
    /** Ends the stream; with done, after OpenAI's `data: [DONE]` line. */
    close(done: boolean) {
      if (done) write('data: [DONE]\n\n');
      queue.end();
      end();
    },
  };
}
