// What happens in a chat thread, published so that every watcher of a session
// or conversation (a second tab, an agent) sees replies as they are generated.
// In memory by default; through Redis when several instances serve one database.
// The same channel carries requests to stop a reply, which reach whichever
// instance is generating it.
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub, map } from '@graphql-yoga/subscription';
import type { Redis } from 'ioredis';
import type { Prisma } from '../../generated/prisma/client.ts';

type MessageRow = Prisma.MessageGetPayload<object>;

/**
 * The events of one reply carry `eventId`, its position in that reply's
 * stream: 1 for `started`, then one per piece, then the outcome. The REST
 * stream's `id:` lines are these numbers, and resuming after one of them
 * replays what followed it.
 */
export type ReplyEvent =
  /** The reply's row exists (status "streaming", no content yet); its id is what stop and resume take. */
  | { kind: 'started'; eventId: number; userMessage: MessageRow; assistantMessage: MessageRow }
  /** A piece of the reply, in order. */
  | { kind: 'delta'; eventId: number; userMessageId: string; assistantMessageId: string; delta: string }
  /**
   * The reply was stored (status complete, incomplete or stopped); no reply
   * (null, the only event of its stream) while a person answers the thread.
   */
  | { kind: 'completed'; eventId: number; userMessage: MessageRow; assistantMessage: MessageRow | null }
  /** No reply could be generated; the user's message is stored. */
  | { kind: 'failed'; eventId: number; userMessage: MessageRow; assistantMessageId?: string; code: string; detail: string };

export type ChatEvent =
  /** The user's message was stored; the reply is being generated. */
  | { kind: 'received'; userMessage: MessageRow }
  | ReplyEvent
  /** A person who took over the thread wrote a message. */
  | { kind: 'operator'; message: MessageRow }
  /** The thread was handed to a person, taken over, or handed back. */
  | { kind: 'handoff'; state: string; operator: string | null; reason: string | null };

/** The reply an event belongs to, if any. */
export function replyIdOf(event: ChatEvent): string | undefined {
  switch (event.kind) {
    case 'received':
    case 'operator':
    case 'handoff':
      return undefined;
    case 'delta':
      return event.assistantMessageId;
    case 'failed':
      return event.assistantMessageId;
    default:
      return event.assistantMessage?.id;
  }
}

/**
 * Pieces of a reply that may wait for a client too slow to take them, on any stream (REST,
 * GraphQL, OpenAI-compatible); past that the client gives up its reply: the generation stops and
 * what was generated is stored as incomplete.
 */
export const UNREAD_EVENTS_MAX = 1024;

/** Whether the event is one of a reply's (numbered), not of the thread. */
export const isReplyEvent = (event: ChatEvent): event is ReplyEvent => 'eventId' in event;

/** Whether nothing follows this event in its reply's stream. */
export const endsReply = (event: ChatEvent) => event.kind === 'completed' || event.kind === 'failed';

export type ChatEventBus = {
  publish(threadId: string, event: ChatEvent): void;
  subscribe(threadId: string): AsyncIterable<ChatEvent>;
  /** Asks every instance to stop generating this reply (the one generating it does). */
  requestStop(replyId: string): void;
  /** Ids of replies someone asked to stop, as the requests arrive. */
  stopRequests(): AsyncIterable<string>;
};

/** Messages that went through Redis (or a reply's event log) arrive as JSON: their dates are strings again. */
export function reviveDates<E extends ChatEvent>(event: E): E {
  const revive = <M extends MessageRow | null>(message: M): M =>
    message && typeof message.createdAt === 'string' ? { ...message, createdAt: new Date(message.createdAt) } : message;
  switch (event.kind) {
    case 'received':
    case 'failed':
      return { ...event, userMessage: revive(event.userMessage) };
    case 'started':
    case 'completed':
      return { ...event, userMessage: revive(event.userMessage), assistantMessage: revive(event.assistantMessage) };
    case 'operator':
      return { ...event, message: revive(event.message) };
    default:
      return event;
  }
}

/**
 * The subscribing connection as the event target may use it: the target sends
 * SUBSCRIBE and UNSUBSCRIBE without waiting for their answers, so a Redis that
 * is unreachable (or a connection closed at shutdown) would make each one an
 * unhandled rejection, which ends a Node process. They are reported instead;
 * the subscriptions go on without events from other instances meanwhile.
 */
function reportingFailures(subscriber: Redis, onError: (error: unknown) => void): Redis {
  return new Proxy(subscriber, {
    get(target, property) {
      const value = Reflect.get(target, property);
      if (property === 'subscribe' || property === 'unsubscribe') {
        return (...channels: string[]) => (value as (...c: string[]) => Promise<unknown>).apply(target, channels).catch(onError);
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

export function createChatEventBus({ redis, onError = () => {} }: { redis?: Redis; onError?: (error: unknown) => void } = {}): ChatEventBus & { close(): Promise<void> } {
  // Redis needs a connection of its own for subscribing.
  const subscriber = redis?.duplicate();
  const pubsub = createPubSub<{ chat: [string, ChatEvent]; 'reply-stop': [string] }>(
    redis && subscriber ? { eventTarget: createRedisEventTarget({ publishClient: redis, subscribeClient: reportingFailures(subscriber, onError) }) } : {},
  );
  return {
    publish: (threadId, event) => pubsub.publish('chat', threadId, event),
    // `map` passes return() straight to the source: a generator wrapper would
    // wait behind the pending next() of an idle thread and keep the listener forever.
    subscribe: (threadId) => map(reviveDates)(pubsub.subscribe('chat', threadId)),
    requestStop: (replyId) => pubsub.publish('reply-stop', replyId),
    stopRequests: () => pubsub.subscribe('reply-stop'),
    async close() {
      if (!subscriber) return;
      // The last subscriptions (the stop requests', ended as the app closes) unsubscribe a moment
      // after they end: those commands go out before the connection closes, instead of failing
      // as unhandled rejections on a closed one.
      await new Promise((resolve) => setImmediate(resolve));
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}
