// Assistant personas. A widget visitor sees only active assistants; everything
// else is for the organization's API keys.
import { z } from 'zod';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { notFound } from '../errors.ts';
import { defined, isUuid, languageTag, jsonObject, parseInput, findPage, requiredText, text, type Page, type PageArgs } from './validation.ts';
import type { Viewer } from './viewer.ts';

export type Assistant = Prisma.AssistantGetPayload<object>;

const fields = {
  name: requiredText(200),
  description: text(4000),
  tone: text(200),
  language: languageTag,
  defaultTasks: z.array(requiredText(200)).max(50, { error: 'must list at most 50 tasks' }),
  isActive: z.boolean(),
  model: requiredText(200).nullable(),
  temperature: z.number().min(0, { error: 'must be between 0 and 2' }).max(2, { error: 'must be between 0 and 2' }).nullable(),
  maxTokens: z.number().int().min(1, { error: 'must be between 1 and 32768' }).max(32768, { error: 'must be between 1 and 32768' }).nullable(),
  rewriteQuestions: z.boolean(),
  metadata: jsonObject(),
};

const createSchema = z.object({
  ...fields,
  description: fields.description.nullish(),
  tone: fields.tone.nullish(),
  language: fields.language.nullish(),
  defaultTasks: fields.defaultTasks.nullish(),
  isActive: fields.isActive.nullish(),
  model: fields.model.optional(),
  temperature: fields.temperature.optional(),
  maxTokens: fields.maxTokens.optional(),
  rewriteQuestions: fields.rewriteQuestions.nullish(),
  metadata: fields.metadata.nullish(),
});

// In an update, null on a setting clears it; null on a required field is refused.
const updateSchema = z.object({
  name: fields.name.optional(),
  description: fields.description.optional(),
  tone: fields.tone.optional(),
  language: fields.language.optional(),
  defaultTasks: fields.defaultTasks.optional(),
  isActive: fields.isActive.optional(),
  model: fields.model.optional(),
  temperature: fields.temperature.optional(),
  maxTokens: fields.maxTokens.optional(),
  rewriteQuestions: fields.rewriteQuestions.optional(),
  metadata: fields.metadata.optional(),
});

export type CreateAssistantInput = z.input<typeof createSchema>;

const withoutNulls = <T extends Record<string, unknown>>(value: T) =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined));

export function createAssistantService({ prisma }: { prisma: PrismaClient }) {
  /** Widget visitors only ever see active assistants. */
  const visible = (viewer: Viewer): Prisma.AssistantWhereInput =>
    viewer.kind === 'widget' ? { organizationId: viewer.organizationId, isActive: true } : { organizationId: viewer.organizationId };

  async function get(viewer: Viewer, id: string): Promise<Assistant> {
    const assistant = isUuid(id) ? await prisma.assistant.findFirst({ where: { id, ...visible(viewer) } }) : null;
    if (!assistant) throw notFound('Assistant', id);
    return assistant;
  }

  return {
    get,

    async list(viewer: Viewer, args: PageArgs & { isActive?: boolean | null }): Promise<Page<Assistant>> {
      // The viewer's rule comes last: a widget token asking for inactive assistants still sees active ones only.
      const where = { ...(typeof args.isActive === 'boolean' ? { isActive: args.isActive } : {}), ...visible(viewer) };
      return findPage(
        args,
        (page) => prisma.assistant.findMany({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], ...page }),
        () => prisma.assistant.count({ where }),
      );
    },

    async create(viewer: Viewer, input: CreateAssistantInput): Promise<Assistant> {
      const data = parseInput(createSchema, input);
      return prisma.assistant.create({
        data: {
          ...withoutNulls(data),
          name: data.name,
          metadata: (data.metadata ?? {}) as Prisma.InputJsonObject,
          organizationId: viewer.organizationId,
        },
      });
    },

    async update(viewer: Viewer, id: string, input: object): Promise<Assistant> {
      await get(viewer, id);
      const data = parseInput(updateSchema, input);
      return prisma.assistant.update({
        where: { id },
        data: defined({ ...data, metadata: data.metadata as Prisma.InputJsonObject | undefined }),
      });
    },

    /** Deletes the assistant with its sessions, conversations and their messages. */
    async delete(viewer: Viewer, id: string): Promise<Assistant> {
      const assistant = await get(viewer, id);
      await prisma.assistant.delete({ where: { id } });
      return assistant;
    },
  };
}

export type AssistantService = ReturnType<typeof createAssistantService>;
