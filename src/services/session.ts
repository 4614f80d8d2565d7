// Visitor sessions. A session opened with a widget token belongs to that
// token's visitor: other visitors of the same organization cannot see it. A
// token bound to a signed-in user links the session to that user's context, so
// their traits reach the prompt as in conversations.
import { z } from 'zod';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { AppError, notFound } from '../errors.ts';
import type { AssistantService } from './assistant.ts';
import type { UserContextService } from './user-context.ts';
import { findPage, isUuid, jsonObject, languageTag, parseInput, requiredText, type Page, type PageArgs } from './validation.ts';
import type { Viewer } from './viewer.ts';
import { assertHandoffState } from './handoff-state.ts';

export type Session = Prisma.SessionGetPayload<object>;


const createSchema = z.object({
  assistantId: z.string(),
  visitorId: requiredText(255).nullish(),
  locale: languageTag.nullish(),
  metadata: jsonObject().nullish(),
});

/** An assistant that may start new chats: visible to the viewer and active. */
export async function activeAssistant(assistants: AssistantService, viewer: Viewer, id: string) {
  const assistant = await assistants.get(viewer, id);
  if (!assistant.isActive) {
    throw new AppError('CONFLICT', `Assistant ${JSON.stringify(id)} is inactive; set is_active to true before starting chats with it.`);
  }
  return assistant;
}

/** The sessions a viewer may see: a widget token only those its visitor opened. */
export const visibleSessions = (viewer: Viewer): Prisma.SessionWhereInput =>
  viewer.kind === 'widget'
    ? { organizationId: viewer.organizationId, ownerSubject: viewer.subject }
    : { organizationId: viewer.organizationId };

export function createSessionService({ prisma, assistants, userContexts }: { prisma: PrismaClient; assistants: AssistantService; userContexts: UserContextService }) {
  const visible = visibleSessions;

  async function get(viewer: Viewer, id: string): Promise<Session> {
    const session = isUuid(id) ? await prisma.session.findFirst({ where: { id, ...visible(viewer) } }) : null;
    if (!session) throw notFound('Session', id);
    return session;
  }

  return {
    get,

    async list(viewer: Viewer, args: PageArgs & { assistantId?: string | null; visitorId?: string | null; handoff?: string | null }): Promise<Page<Session>> {
      assertHandoffState(args.handoff);
      // An assistant id that is not a UUID matches nothing.
      if (args.assistantId && !isUuid(args.assistantId)) return findPage(args, async () => [], async () => 0);
      const where: Prisma.SessionWhereInput = {
        ...visible(viewer),
        ...(args.assistantId ? { assistantId: args.assistantId } : {}),
        ...(args.visitorId ? { visitorId: args.visitorId } : {}),
        ...(args.handoff ? { handoffState: args.handoff } : {}),
      };
      return findPage(
        args,
        (page) => prisma.session.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], ...page }),
        () => prisma.session.count({ where }),
      );
    },

    async create(viewer: Viewer, input: z.input<typeof createSchema>): Promise<Session> {
      const data = parseInput(createSchema, input);
      const assistant = await activeAssistant(assistants, viewer, data.assistantId);
      const owner = viewer.kind === 'widget' ? viewer.subject : null;
      const userReference = viewer.kind === 'widget' ? viewer.userReference : undefined;
      const userContext = userReference === undefined ? null : await userContexts.ensure(viewer.organizationId, userReference);
      return prisma.session.create({
        data: {
          organizationId: viewer.organizationId,
          assistantId: assistant.id,
          visitorId: data.visitorId ?? owner,
          ownerSubject: owner,
          userContextId: userContext?.id ?? null,
          locale: data.locale ?? null,
          metadata: (data.metadata ?? {}) as Prisma.InputJsonObject,
        },
      });
    },
  };
}

export type SessionService = ReturnType<typeof createSessionService>;
