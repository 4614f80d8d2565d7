// What the rest of the gateway tells webhooks: a reply stored, a knowledge
// source ready or failed. Each is queued after the fact it reports is stored,
// without holding up the reply or the job that produced it.
import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { Message } from './chat.ts';
import { messageData, sourceData, threadData } from './event-data.ts';
import type { WebhookService } from './webhooks.ts';

export function createWebhookEvents({ prisma, webhooks, onError = (error: unknown) => console.error('Queueing a webhook event failed:', error) }: {
  prisma: PrismaClient;
  webhooks: WebhookService;
  onError?: (error: unknown) => void;
}) {
  // Queued without being awaited; the app waits for them when it closes, before the database goes.
  const inFlight = new Set<Promise<void>>();
  const track = (work: Promise<void>) => {
    const tracked = work.catch(onError).finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };

  return {
    /** message.completed: the reply (complete or incomplete) and the message it answers. */
    replyStored({ organizationId, assistantId, userMessage, assistantMessage }: { organizationId: string; assistantId: string; userMessage: Message; assistantMessage: Message }) {
      track(
        webhooks.emit(organizationId, 'message.completed', {
          ...threadData(assistantMessage),
          assistant_id: assistantId,
          message: messageData(assistantMessage),
          user_message: messageData(userMessage),
        }),
      );
    },

    /** source.ready or source.failed, with the source as the knowledge endpoints show it. */
    sourceSettled({ id, organizationId }: { id: string; organizationId: string }) {
      track(
        (async () => {
          // Most organizations take neither event: then the source is not read at all.
          if (!(await webhooks.listens(organizationId, ['source.ready', 'source.failed']))) return;
          const source = await prisma.knowledgeSource.findUnique({ where: { id }, omit: { content: true } });
          if (!source || (source.status !== 'ready' && source.status !== 'failed')) return;
          await webhooks.emit(source.organizationId, source.status === 'ready' ? 'source.ready' : 'source.failed', sourceData(source));
        })(),
      );
    },

    /** Resolves once the events being queued are written. */
    async settled() {
      await Promise.allSettled([...inFlight]);
    },
  };
}
