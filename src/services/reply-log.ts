// The events of each reply (started, every piece, the outcome), kept so that a
// client whose stream dropped can pick it up again after the last event it
// had (Last-Event-ID), even on another instance. The stored reply alone could
// not serve that: it is saved about once a second, and it does not say where
// one event ended and the next began. Kept in Redis when REDIS_URL is set, so
// every instance reads what any instance generated; in this process otherwise.
// Either way for a bounded time after the reply ends.
import type { Redis } from 'ioredis';
import { endsReply, reviveDates, type ReplyEvent } from './chat-events.ts';

/** How long a reply's events are kept after it started or ended; past that, its stored row is what remains. */
export const REPLY_EVENTS_RETENTION_MS = 3600_000;
/** Replies whose events this process keeps after they ended, at most (the oldest go first). */
const MAX_ENDED_IN_MEMORY = 2_000;

export type ReplyLog = {
  /** Appends the next event of a reply. Never throws: a failed write only costs a later resume. */
  append(replyId: string, event: ReplyEvent): void;
  /** The events kept for a reply, in order; null when none are (never generated, or past the retention). */
  read(replyId: string): Promise<ReplyEvent[] | null>;
};

export function createReplyLog({ redis, onError = defaultOnError }: { redis?: Redis; onError?: (error: unknown) => void } = {}): ReplyLog {
  return redis ? redisLog(redis, onError) : memoryLog();
}

function memoryLog(): ReplyLog {
  type Entry = { events: ReplyEvent[]; expiresAt: number; ended: boolean };
  // Insertion order is start order: the oldest entries come first when sweeping.
  const entries = new Map<string, Entry>();
  let ended = 0;

  function sweep(now: number) {
    for (const [id, entry] of entries) {
      if (entry.expiresAt > now && !(entry.ended && ended > MAX_ENDED_IN_MEMORY)) continue;
      entries.delete(id);
      if (entry.ended) ended--;
    }
  }

  return {
    append(replyId, event) {
      const now = Date.now();
      let entry = entries.get(replyId);
      if (!entry) {
        sweep(now);
        entry = { events: [], expiresAt: now + REPLY_EVENTS_RETENTION_MS, ended: false };
        entries.set(replyId, entry);
      }
      entry.events.push(event);
      if (endsReply(event) && !entry.ended) {
        entry.ended = true;
        ended++;
        entry.expiresAt = now + REPLY_EVENTS_RETENTION_MS;
      }
    },
    async read(replyId) {
      const entry = entries.get(replyId);
      if (!entry || entry.expiresAt <= Date.now()) return null;
      return [...entry.events];
    },
  };
}

function redisLog(redis: Redis, onError: (error: unknown) => void): ReplyLog {
  const key = (replyId: string) => `reply-events:${replyId}`;
  return {
    append(replyId, event) {
      // Sent on the connection that publishes the chat events, right before the event is
      // published: whoever receives an event live finds every earlier one in the list.
      redis.rpush(key(replyId), JSON.stringify(event)).catch(onError);
      if (event.kind === 'started' || endsReply(event)) redis.pexpire(key(replyId), REPLY_EVENTS_RETENTION_MS).catch(onError);
    },
    async read(replyId) {
      const items = await redis.lrange(key(replyId), 0, -1);
      return items.length === 0 ? null : items.map((item) => reviveDates(JSON.parse(item) as ReplyEvent));
    },
  };
}

function defaultOnError(error: unknown) {
  console.error('Keeping a reply\'s events failed (resuming that reply may replay less):', error);
}
