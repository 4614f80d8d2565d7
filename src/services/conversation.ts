// Persistent conversations of known customers. A conversation may be linked to
// a user context, named by its id or its user reference; without one, the
// context whose reference equals the customer id is used when it exists.
import { z } from 'zod';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { notFound } from '../errors.ts';
import type { AssistantService } from './assistant.ts';
import { activeAssistant } from './session.ts';
import type { UserContextService } from './user-context.ts';
import { isUuid, jsonObject, languageTag, parseInput, findPage, requiredText, text, type Page, type PageArgs } from './validation.ts';
import type { Viewer } from './viewer.ts';
import { assertHandoffState } from './handoff-state.ts';

export type Conversation = Prisma.ConversationGetPayload<object>;

const createSchema = z.object({
  assistantId: z.string(),
  customerId: requiredText(255).nullish(),
  title: text(500).nullish(),
  locale: languageTag.nullish(),
  userContextId: requiredText(255).nullish(),
  metadata: jsonObject().nullish(),
});

export function createConversationService(deps: {
  prisma: PrismaClient;
  assistants: AssistantService;
  userContexts: UserContextService;
}) {
  const { prisma, assistants, userContexts } = deps;

  async function get(viewer: Viewer, id: string): Promise<Conversation> {
    const conversation = isUuid(id)
      ? await prisma.conversation.findFirst({ where: { id, organizationId: viewer.organizationId } })
      : null;
    if (!conversation) throw notFound('Conversation', id);
    return conversation;
  }

  return {
    get,

    async list(viewer: Viewer, args: PageArgs & { customerId?: string | null; assistantId?: string | null; handoff?: string | null }): Promise<Page<Conversation>> {
      assertHandoffState(args.handoff);
      // An assistant id that is not a UUID matches nothing.
      if (args.assistantId && !isUuid(args.assistantId)) return findPage(args, async () => [], async () => 0);
      const where: Prisma.ConversationWhereInput = {
        organizationId: viewer.organizationId,
        ...(args.customerId ? { customerId: args.customerId } : {}),
        ...(args.assistantId ? { assistantId: args.assistantId } : {}),
        ...(args.handoff ? { handoffState: args.handoff } : {}),
      };
      return findPage(
        args,
        (page) => prisma.conversation.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], ...page }),
        () => prisma.conversation.count({ where }),
      );
    },

    async create(viewer: Viewer, input: z.input<typeof createSchema>): Promise<Conversation> {
      const data = parseInput(createSchema, input);
      const assistant = await activeAssistant(assistants, viewer, data.assistantId);
      let userContextId: string | null = null;
      if (data.userContextId) {
        userContextId = (await userContexts.get(viewer, data.userContextId)).id;
      } else if (data.customerId) {
        userContextId = (await userContexts.find(viewer, data.customerId))?.id ?? null;
      }
      return prisma.conversation.create({
        data: {
          organizationId: viewer.organizationId,
          assistantId: assistant.id,
          customerId: data.customerId ?? null,
          title: data.title ?? null,
          locale: data.locale ?? null,
          userContextId,
          metadata: (data.metadata ?? {}) as Prisma.InputJsonObject,
        },
      });
    },
  };
}

export type ConversationService = ReturnType<typeof createConversationService>;
