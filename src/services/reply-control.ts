// Stopping a reply and resuming its stream. A stop reaches the generation
// wherever it runs: here directly, on another instance through the chat
// event bus (Redis when REDIS_URL is set). Resuming replays the reply's kept
// events after the last one the client had (see reply-log.ts), then follows
// the live ones until the reply ends.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { AppError, invalid, notFound } from '../errors.ts';
import { endsReply, isReplyEvent, replyIdOf, type ChatEvent, type ChatEventBus, type ReplyEvent } from './chat-events.ts';
import { threadId, type Message, type Thread } from './chat.ts';
import type { ReplyLog } from './reply-log.ts';
import type { RunningReplies } from './running-replies.ts';
import { STALE_AFTER_MS } from './streaming-replies.ts';
import { visibleSessions } from './session.ts';
import { isUuid } from './validation.ts';
import type { Viewer } from './viewer.ts';

/** How long a stop waits for the instance generating the reply to store it. */
const STOP_WAIT_MS = 5_000;
/** How often a stop relayed to another instance looks whether the reply was stored. */
const STOP_POLL_MS = 50;
/**
 * How often a resumed stream reads the kept events again, besides following
 * the live ones: it fills any gap left while its live subscription was being
 * set up, and notices a reply whose instance died (its row no longer streaming).
 */
const RESUME_CHECK_MS = 1_000;

/** Which thread a message must belong to, when the caller names one (the REST paths do). */
export type ThreadFilter = { sessionId?: string | null; conversationId?: string | null };

const isStreaming = (message: { status: string }) => message.status === 'streaming';

export function createReplyControl({ prisma, events, log, running }: { prisma: PrismaClient; events: ChatEventBus; log: ReplyLog; running: RunningReplies }) {
  // Requests relayed from other instances (and from this one, when the reply was not registered yet).
  const requests = events.stopRequests()[Symbol.asyncIterator]();
  void (async () => {
    for (;;) {
      const next = await requests.next();
      if (next.done) return;
      void running.stop(next.value);
    }
  })();

  /**
   * A message the viewer may see: of its organization, in a session it may see
   * (a widget token: its own sessions only, never conversations), and in the
   * named thread when there is one. Anything else is 404, like a missing id.
   */
  async function findMessage(viewer: Viewer, id: string, thread: ThreadFilter = {}): Promise<Message> {
    const where: Prisma.MessageWhereInput = {
      id,
      organizationId: viewer.organizationId,
      ...(thread.sessionId ? { sessionId: thread.sessionId } : {}),
      ...(thread.conversationId ? { conversationId: thread.conversationId } : {}),
      ...(viewer.kind === 'widget' ? { session: visibleSessions(viewer) } : {}),
    };
    const message = isUuid(id) && [thread.sessionId, thread.conversationId].every((t) => !t || isUuid(t)) ? await prisma.message.findFirst({ where }) : null;
    if (!message) throw notFound('Message', id);
    return message;
  }

  function onlyReplies(message: Message, doing: string) {
    if (message.role !== 'assistant') {
      throw new AppError('CONFLICT', `Message ${message.id} is a ${message.role} message; only the assistant's replies can be ${doing}.`);
    }
  }

  const threadOf = (message: Message): Thread =>
    message.sessionId ? { sessionId: message.sessionId } : { conversationId: message.conversationId! };

  /** The user's message a reply answers: the last one before it. */
  async function questionOf(reply: Message): Promise<Message> {
    const question = await prisma.message.findFirst({
      where: { ...threadOf(reply), role: 'user', createdAt: { lte: reply.createdAt } },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    });
    return question ?? reply;
  }

  /** The events a stored reply stands for, when its own events are no longer kept: started, its content as one piece, its outcome. */
  async function* storedEvents(reply: Message, after: number, alreadyDelivered: string): AsyncGenerator<ReplyEvent> {
    const userMessage = await questionOf(reply);
    let eventId = after;
    const rest = reply.content.startsWith(alreadyDelivered) ? reply.content.slice(alreadyDelivered.length) : '';
    if (after === 0) yield { kind: 'started', eventId: ++eventId, userMessage, assistantMessage: { ...reply, status: 'streaming', content: '' } };
    if (rest !== '') yield { kind: 'delta', eventId: ++eventId, userMessageId: userMessage.id, assistantMessageId: reply.id, delta: rest };
    yield reply.status === 'failed'
      ? { kind: 'failed', eventId: ++eventId, userMessage, assistantMessageId: reply.id, code: 'MODEL_UNAVAILABLE', detail: reply.error ?? 'No reply could be generated.' }
      : { kind: 'completed', eventId: ++eventId, userMessage, assistantMessage: reply };
  }

  /**
   * A replay's outcome shows the reply's rating as it is now: a reply can be rated
   * once it has finished, before its events are replayed. (A send's own events
   * carry none: see asWritten in src/schema/message.ts.)
   */
  async function* withCurrentRating(replay: AsyncIterable<ReplyEvent>): AsyncGenerator<ReplyEvent> {
    for await (const event of replay) {
      if (event.kind !== 'completed' || !event.assistantMessage) {
        yield event;
        continue;
      }
      const rated: Message & { feedback: Prisma.FeedbackGetPayload<object> | null } = {
        ...event.assistantMessage,
        feedback: await prisma.feedback.findUnique({ where: { messageId: event.assistantMessage.id } }),
      };
      yield { ...event, assistantMessage: rated };
    }
  }

  /**
   * Replays kept events after `after`, then follows live ones. `live` was
   * subscribed before the kept events were read, so an event is either among
   * them or arrives live; a gap (the subscription was not active yet when an
   * event went out) is filled from the log, which every event reaches first.
   */
  async function* follow(reply: Message, kept: ReplyEvent[], after: number, live: AsyncIterator<ChatEvent>): AsyncGenerator<ReplyEvent> {
    let last = after;
    let ended = kept.some((event) => endsReply(event) && event.eventId <= after);
    /** The reply's text the client has: the pieces up to the last event it got. */
    let delivered = kept.filter((event) => event.kind === 'delta' && event.eventId <= after).map((event) => (event as { delta: string }).delta).join('');
    /** The events of `list` that come next, in order; one past a gap waits until the gap is filled. */
    function* inOrder(list: ReplyEvent[]): Generator<ReplyEvent> {
      for (const event of list) {
        if (ended || event.eventId <= last) continue;
        if (event.eventId !== last + 1) return;
        last = event.eventId;
        ended = endsReply(event);
        if (event.kind === 'delta') delivered += event.delta;
        yield event;
      }
    }
    const closed = new AbortController();
    const check = () => sleep(RESUME_CHECK_MS, 'check' as const, { signal: closed.signal }).catch(() => 'closed' as const);
    try {
      yield* inOrder(kept);
      let pending = live.next();
      let checking = check();
      let heardLive = false;
      while (!ended) {
        const next = await Promise.race([pending, checking]);
        if (next === 'closed') return;
        if (next === 'check') {
          checking = check();
          const before = last;
          yield* inOrder((await log.read(reply.id)) ?? []);
          // Nothing new for a while, and the row no longer streams: its instance is gone. The stored reply has the rest.
          if (!ended && last === before && !heardLive) {
            const row = await prisma.message.findUnique({ where: { id: reply.id } });
            if (!row) return;
            if (!isStreaming(row)) {
              yield* storedEvents(row, last, delivered);
              return;
            }
          }
          heardLive = false;
          continue;
        }
        pending = live.next();
        if (next.done) return;
        const event = next.value;
        if (!isReplyEvent(event) || replyIdOf(event) !== reply.id || event.eventId <= last) continue;
        heardLive = true;
        if (event.eventId > last + 1) yield* inOrder((await log.read(reply.id)) ?? []);
        // Still a gap: the log lost an event (a failed write). Going on beats waiting for good.
        if (event.eventId > last + 1) last = event.eventId - 1;
        yield* inOrder([event]);
      }
    } finally {
      closed.abort();
      await live.return?.();
    }
  }

  return {
    findMessage,

    /**
     * Stops a reply being generated, wherever it is, and returns it as stored:
     * status "stopped", its content exactly what was streamed before the stop.
     * A reply already finished (or the user's message) is a CONFLICT (409).
     */
    async stop(viewer: Viewer, id: string, thread: ThreadFilter = {}): Promise<Message> {
      const reply = await findMessage(viewer, id, thread);
      onlyReplies(reply, 'stopped');
      const finishedAlready = (row: Message) =>
        new AppError('CONFLICT', `Reply ${row.id} has already finished (status "${row.status}"); only a reply that is streaming can be stopped.`);
      if (!isStreaming(reply)) throw finishedAlready(reply);
      if (!(await running.stop(reply.id))) {
        events.requestStop(reply.id);
        const deadline = Date.now() + STOP_WAIT_MS;
        while (Date.now() < deadline) {
          await sleep(STOP_POLL_MS);
          const row = await prisma.message.findUnique({ where: { id: reply.id }, select: { status: true } });
          if (!row || !isStreaming(row)) break;
        }
        // No instance answered. A row no one has saved for a while lost its instance: it is ended here, as saved.
        await prisma.$executeRaw`
          UPDATE "Message" SET status = 'stopped', "updatedAt" = now()
          WHERE id = ${reply.id}::uuid AND status = 'streaming' AND "updatedAt" < now() - make_interval(secs => ${STALE_AFTER_MS / 1000}::float8)`;
      }
      const stored = await prisma.message.findUnique({ where: { id: reply.id } });
      if (!stored) throw notFound('Message', id);
      if (isStreaming(stored)) {
        throw new AppError(
          'UNAVAILABLE',
          `Reply ${stored.id} is being generated by an instance that did not answer the stop; instances pass stops to each other through Redis (set REDIS_URL on every instance). Try again.`,
          { retryAfter: 1 },
        );
      }
      if (stored.status !== 'stopped') throw finishedAlready(stored);
      return stored;
    },

    /**
     * The events of a reply after event `after` (0: from the start), then the
     * live ones until it ends; nothing when the client already had its last
     * event. A finished reply whose events are no longer kept is replayed from
     * its stored content when `after` is 0, and is GONE (410) otherwise.
     */
    async events(viewer: Viewer, id: string, thread: ThreadFilter, after: number): Promise<AsyncIterable<ReplyEvent>> {
      if (!Number.isSafeInteger(after) || after < 0) {
        throw invalid([{ field: 'afterEventId', message: 'must be a whole number of at least 0: the id of the last event received' }]);
      }
      const reply = await findMessage(viewer, id, thread);
      onlyReplies(reply, 'resumed');
      // Subscribed before reading what is kept, so that nothing falls between the two.
      const live = events.subscribe(threadId(threadOf(reply)))[Symbol.asyncIterator]();
      const kept = await log.read(reply.id);
      if (kept) return withCurrentRating(follow(reply, kept, after, live));
      await live.return?.();
      if (isStreaming(reply)) {
        throw new AppError(
          'UNAVAILABLE',
          `Reply ${reply.id} is being generated by another instance that shares no events with this one (set REDIS_URL on every instance); read it from the messages list.`,
          { retryAfter: 1 },
        );
      }
      if (after > 0) {
        throw new AppError(
          'GONE',
          `The events of reply ${reply.id} are no longer kept (they are kept for an hour after the reply ends); read the reply from the messages list, or resume from the start without Last-Event-ID.`,
        );
      }
      return withCurrentRating(storedEvents(reply, 0, ''));
    },

    close: async () => {
      await requests.return?.();
    },
  };
}

export type ReplyControl = ReturnType<typeof createReplyControl>;
