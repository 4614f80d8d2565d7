// Ratings of assistants' replies: thumbs up or down with an optional comment,
// one per reply (rating it again replaces the earlier rating). Given by the
// organization's API key or by the visitor whose session holds the reply;
// listed and exported for the organization.
import { z } from 'zod';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { AppError, invalid, notFound } from '../errors.ts';
import type { Thread } from './chat.ts';
import { feedbackData } from './event-data.ts';
import { findPage, isUuid, parseInput, text, type Page, type PageArgs } from './validation.ts';
import type { Viewer } from './viewer.ts';
import type { WebhookService } from './webhooks.ts';

export type Feedback = Prisma.FeedbackGetPayload<object>;

export const RATINGS = ['up', 'down'] as const;

const giveSchema = z.object({
  rating: z.enum(RATINGS, { error: (issue) => (issue.input === undefined ? 'is required' : 'must be "up" or "down"') }),
  comment: text(2000).nullish(),
});

export type FeedbackFilter = { rating?: string | null; assistantId?: string | null; since?: Date | null };

/** Rows read per query while exporting: memory stays bounded however much feedback there is. */
const EXPORT_BATCH = 500;

export function createFeedbackService({ prisma, webhooks }: { prisma: PrismaClient; webhooks: WebhookService }) {
  function where(viewer: Viewer, filter: FeedbackFilter): Prisma.FeedbackWhereInput | null {
    if (filter.rating != null && !RATINGS.includes(filter.rating as never)) {
      throw invalid([{ field: 'rating', message: 'must be "up" or "down"' }]);
    }
    // An assistant id that is not a UUID matches nothing.
    if (filter.assistantId && !isUuid(filter.assistantId)) return null;
    return {
      organizationId: viewer.organizationId,
      ...(filter.rating ? { rating: filter.rating } : {}),
      ...(filter.assistantId ? { assistantId: filter.assistantId } : {}),
      ...(filter.since ? { updatedAt: { gte: filter.since } } : {}),
    };
  }

  return {
    /**
     * Rates a reply of a thread the caller may use. Only assistants' replies can
     * be rated, once they are stored. Answers whether the rating is new (a second
     * one replaces the first).
     */
    async give(
      viewer: Viewer,
      { thread, assistantId }: { thread: Thread; assistantId: string },
      messageId: string,
      input: { rating?: unknown; comment?: unknown },
    ): Promise<{ feedback: Feedback; created: boolean }> {
      const data = parseInput(giveSchema, input);
      const message = isUuid(messageId)
        ? await prisma.message.findFirst({ where: { id: messageId, ...thread, organizationId: viewer.organizationId }, select: { id: true, role: true, status: true } })
        : null;
      if (!message) throw notFound('Message', messageId);
      if (message.role !== 'assistant') {
        throw invalid([{ field: 'message_id', message: `names a ${message.role} message; only the assistant's replies can be rated` }]);
      }
      if (message.status === 'streaming') {
        throw new AppError('CONFLICT', 'This reply is still being generated; rate it once it is finished.');
      }
      const fields = { rating: data.rating, comment: data.comment ?? null, givenBy: viewer.kind === 'widget' ? 'widget' : 'api_key' };
      const existing = await prisma.feedback.findUnique({ where: { messageId: message.id }, select: { id: true } });
      const feedback = await prisma.feedback.upsert({
        where: { messageId: message.id },
        create: { organizationId: viewer.organizationId, messageId: message.id, assistantId, ...thread, ...fields },
        update: fields,
      });
      await webhooks.emit(viewer.organizationId, 'feedback.created', feedbackData(feedback));
      return { feedback, created: existing === null };
    },

    /** Feedback of the organization, the most recently given first. */
    async list(viewer: Viewer, args: PageArgs & FeedbackFilter): Promise<Page<Feedback>> {
      const filter = where(viewer, args);
      if (!filter) return findPage(args, async () => [], async () => 0);
      return findPage(
        args,
        (page) => prisma.feedback.findMany({ where: filter, orderBy: [{ updatedAt: 'desc' }, { id: 'asc' }], ...page }),
        () => prisma.feedback.count({ where: filter }),
      );
    },

    /** Every matching feedback, oldest first, read a batch at a time. A wrong filter fails here, before the first item. */
    export(viewer: Viewer, filter: FeedbackFilter): AsyncGenerator<Feedback> {
      const base = where(viewer, filter);
      return (async function* () {
        if (!base) return;
        let after: { updatedAt: Date; id: string } | null = null;
        for (;;) {
          const batch: Feedback[] = await prisma.feedback.findMany({
            where: after
              ? { AND: [base, { OR: [{ updatedAt: { gt: after.updatedAt } }, { updatedAt: after.updatedAt, id: { gt: after.id } }] }] }
              : base,
            orderBy: [{ updatedAt: 'asc' }, { id: 'asc' }],
            take: EXPORT_BATCH,
          });
          yield* batch;
          if (batch.length < EXPORT_BATCH) return;
          after = batch.at(-1)!;
        }
      })();
    },
  };
}

export type FeedbackService = ReturnType<typeof createFeedbackService>;
