// Handing a session or conversation to a person. A visitor (widget token) or
// the client asks for one: the state becomes "requested" and the
// handoff.requested webhook fires; the assistant keeps answering meanwhile. The
// client's API key names the operator who takes over: "active", the model
// answers no more (src/services/chat.ts) and the operator's messages are stored
// with role "operator" and shown live to the thread's watchers. Handing back
// lets the assistant answer again, with the operator's turns in its history.
import { z } from 'zod';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { AppError } from '../errors.ts';
import type { ChatEventBus } from './chat-events.ts';
import { MESSAGE_MAX_CHARS, threadId, type Message, type Thread } from './chat.ts';
import { threadData } from './event-data.ts';
import { HANDOFF_STATES } from './handoff-state.ts';
import { parseInput, requiredText, text } from './validation.ts';
import type { Viewer } from './viewer.ts';
import type { WebhookService } from './webhooks.ts';


type HandoffFields = { handoffState: string; handoffOperator: string | null; handoffReason: string | null; handoffChangedAt: Date | null };
/** A session or conversation the caller may use, with its handoff fields. */
export type HandedThread<T extends HandoffFields> = { thread: Thread; row: T & { id: string; assistantId: string } };

const requestSchema = z.object({
  operator: requiredText(200).nullish(),
  reason: text(2000).nullish(),
});

const operatorMessageSchema = z.object({
  content: requiredText(MESSAGE_MAX_CHARS),
  operator: requiredText(200),
  metadata: z.record(z.string(), z.unknown()).nullish(),
});

export function createHandoffService({ prisma, events, webhooks }: { prisma: PrismaClient; events: ChatEventBus; webhooks: WebhookService }) {
  /** Changes the handoff fields of the thread's row where `from` holds; the updated row, or null when it did not. */
  async function change<T extends HandoffFields>(
    { thread, row }: HandedThread<T>,
    from: Prisma.StringFilter | string,
    fields: Partial<HandoffFields>,
  ): Promise<T | null> {
    const data = { ...fields, handoffChangedAt: new Date() };
    const where = { id: row.id, handoffState: from };
    const { count } = thread.sessionId
      ? await prisma.session.updateMany({ where, data })
      : await prisma.conversation.updateMany({ where, data });
    if (count === 0) return null;
    const updated = thread.sessionId
      ? await prisma.session.findUniqueOrThrow({ where: { id: row.id } })
      : await prisma.conversation.findUniqueOrThrow({ where: { id: row.id } });
    events.publish(threadId(thread), {
      kind: 'handoff',
      state: updated.handoffState,
      operator: updated.handoffOperator,
      reason: updated.handoffReason,
    });
    return updated as unknown as T;
  }

  return {
    /**
     * Without an operator: asks for a person (state "requested", once; the
     * webhook fires on that change only). With one (API key only): that person
     * takes over (state "active").
     */
    async request<T extends HandoffFields>(viewer: Viewer, target: HandedThread<T>, input: { operator?: unknown; reason?: unknown }): Promise<T> {
      const data = parseInput(requestSchema, input);
      const { row, thread } = target;
      if (data.operator) {
        if (viewer.kind !== 'apiKey') {
          throw new AppError('FORBIDDEN', 'A widget token can ask for a person (send no operator) but cannot take over; the organization\'s API key names the operator.');
        }
        const taken = await change(target, { in: [...HANDOFF_STATES] }, { handoffState: 'active', handoffOperator: data.operator, handoffReason: data.reason ?? row.handoffReason });
        return taken ?? row;
      }
      // Already asked for, or a person is answering: nothing changes, nothing fires again.
      const requested = await change(target, 'none', { handoffState: 'requested', handoffOperator: null, handoffReason: data.reason ?? null });
      if (!requested) {
        return (thread.sessionId
          ? await prisma.session.findUniqueOrThrow({ where: { id: row.id } })
          : await prisma.conversation.findUniqueOrThrow({ where: { id: row.id } })) as unknown as T;
      }
      await webhooks.emit(viewer.organizationId, 'handoff.requested', {
        ...threadData({ sessionId: thread.sessionId ?? null, conversationId: thread.conversationId ?? null }),
        assistant_id: row.assistantId,
        state: 'requested',
        reason: requested.handoffReason,
        requested_by: viewer.kind === 'widget' ? 'widget' : 'api_key',
        requested_at: requested.handoffChangedAt,
      });
      return requested;
    },

    /** Stores a message written by the operator who took over, and shows it to the thread's watchers. */
    async operatorMessage<T extends HandoffFields>(viewer: Viewer, { thread, row }: HandedThread<T>, input: { content?: unknown; operator?: unknown; metadata?: unknown }): Promise<Message> {
      const data = parseInput(operatorMessageSchema, input);
      if (row.handoffState !== 'active') {
        throw new AppError('CONFLICT', `No person has taken over; first POST its handoff with {"operator": "${data.operator}"}, then send operator messages.`);
      }
      const message = await prisma.message.create({
        data: {
          ...thread,
          organizationId: viewer.organizationId,
          role: 'operator',
          operator: data.operator,
          content: data.content,
          metadata: (data.metadata ?? {}) as Prisma.InputJsonObject,
        },
      });
      events.publish(threadId(thread), { kind: 'operator', message });
      return message;
    },

    /** Ends the handoff: the assistant answers the next message again. */
    async handBack<T extends HandoffFields>(_viewer: Viewer, target: HandedThread<T>): Promise<T> {
      const ended = await change(target, { in: ['requested', 'active'] }, { handoffState: 'none', handoffOperator: null, handoffReason: null });
      if (!ended) throw new AppError('CONFLICT', 'This chat is not handed to a person; there is nothing to hand back.');
      return ended;
    },
  };
}

export type HandoffService = ReturnType<typeof createHandoffService>;
