// What happens in a chat thread, published so that every watcher of a session
// or conversation (a second tab, an agent) sees replies as they are generated.
// In memory by default; through Redis when several instances serve one database.
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub, map } from '@graphql-yoga/subscription';
import type { Redis } from 'ioredis';
import type { Prisma } from '../../generated/prisma/client.ts';

type MessageRow = Prisma.MessageGetPayload<object>;

export type ChatEvent =
  /** The user's message was stored; the reply is being generated. */
  | { kind: 'received'; userMessage: MessageRow }
  /** A piece of the reply, in order. */
  | { kind: 'delta'; userMessageId: string; delta: string }
  /** The reply was stored (status complete or incomplete); no reply (null) while a person answers the thread. */
  | { kind: 'completed'; userMessage: MessageRow; assistantMessage: MessageRow | null }
  /** No reply could be generated; the user's message is stored. */
  | { kind: 'failed'; userMessage: MessageRow; code: string; detail: string }
  /** A person who took over the thread wrote a message. */
  | { kind: 'operator'; message: MessageRow }
  /** The thread was handed to a person, taken over, or handed back. */
  | { kind: 'handoff'; state: string; operator: string | null; reason: string | null };

export type ChatEventBus = {
  publish(threadId: string, event: ChatEvent): void;
  subscribe(threadId: string): AsyncIterable<ChatEvent>;
};

/** Messages that went through Redis arrive as JSON: their dates are strings again. */
function reviveDates(event: ChatEvent): ChatEvent {
  const revive = <M extends MessageRow | null>(message: M): M =>
    message && typeof message.createdAt === 'string' ? { ...message, createdAt: new Date(message.createdAt) } : message;
  switch (event.kind) {
    case 'received':
      return { ...event, userMessage: revive(event.userMessage) };
    case 'completed':
      return { ...event, userMessage: revive(event.userMessage), assistantMessage: revive(event.assistantMessage) };
    case 'failed':
      return { ...event, userMessage: revive(event.userMessage) };
    case 'operator':
      return { ...event, message: revive(event.message) };
    default:
      return event;
  }
}

export function createChatEventBus({ redis }: { redis?: Redis } = {}): ChatEventBus & { close(): Promise<void> } {
  // Redis needs a connection of its own for subscribing.
  const subscriber = redis?.duplicate();
  const pubsub = createPubSub<{ chat: [string, ChatEvent] }>(
    redis && subscriber ? { eventTarget: createRedisEventTarget({ publishClient: redis, subscribeClient: subscriber }) } : {},
  );
  return {
    publish: (threadId, event) => pubsub.publish('chat', threadId, event),
    // `map` passes return() straight to the source: a generator wrapper would
    // wait behind the pending next() of an idle thread and keep the listener forever.
    subscribe: (threadId) => map(reviveDates)(pubsub.subscribe('chat', threadId)),
    async close() {
      subscriber?.disconnect();
    },
  };
}
