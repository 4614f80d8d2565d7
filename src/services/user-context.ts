// Stored facts about a known customer (traits), used to personalise the
// conversations linked to them. A context is found by its id or by the
// organization's own reference for the user (`user_reference`).
import { z } from 'zod';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { invalid, notFound } from '../errors.ts';
import { isUuid, jsonObject, parseInput, findPage, requiredText, type Page, type PageArgs } from './validation.ts';
import type { Viewer } from './viewer.ts';

export type UserContext = Prisma.UserContextGetPayload<object>;
type Traits = Record<string, unknown>;

const TRAITS_MAX_BYTES = 64 * 1024;

const upsertSchema = z.object({
  userReference: requiredText(255),
  traits: jsonObject(TRAITS_MAX_BYTES).nullish(),
});
const updateSchema = z.object({ traits: jsonObject(TRAITS_MAX_BYTES) });

const isPlainObject = (value: unknown): value is Traits =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Merges new traits into stored ones: nested objects merge key by key, any other
 * value replaces the old one, and null removes the key.
 */
export function mergeTraits(stored: Traits, changes: Traits): Traits {
  const merged: Traits = { ...stored };
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) delete merged[key];
    else if (isPlainObject(value) && isPlainObject(merged[key])) merged[key] = mergeTraits(merged[key] as Traits, value);
    else merged[key] = value;
  }
  return merged;
}

export function createUserContextService({ prisma }: { prisma: PrismaClient }) {
  /** The id is tried first, then the user reference. */
  async function find(viewer: Viewer, key: string): Promise<UserContext | null> {
    const organizationId = viewer.organizationId;
    if (isUuid(key)) {
      const byId = await prisma.userContext.findFirst({ where: { id: key, organizationId } });
      if (byId) return byId;
    }
    return prisma.userContext.findUnique({ where: { organizationId_userReference: { organizationId, userReference: key } } });
  }

  async function get(viewer: Viewer, key: string): Promise<UserContext> {
    const context = await find(viewer, key);
    if (!context) throw notFound('User context', key);
    return context;
  }

  /** Merges under a row lock: two merges at once must both land, not the last one only. */
  async function writeTraits(context: UserContext, changes: Traits): Promise<UserContext> {
    return prisma.$transaction(async (tx) => {
      const [current] = await tx.$queryRaw<Array<{ traits: Traits }>>`
        SELECT traits FROM "UserContext" WHERE id = ${context.id}::uuid FOR UPDATE`;
      const traits = mergeTraits(current?.traits ?? (context.traits as Traits), changes);
      if (Buffer.byteLength(JSON.stringify(traits)) > TRAITS_MAX_BYTES) {
        throw invalid([{ field: 'traits', message: `would exceed ${TRAITS_MAX_BYTES / 1024} KB of JSON once merged` }]);
      }
      return tx.userContext.update({ where: { id: context.id }, data: { traits: traits as Prisma.InputJsonObject } });
    });
  }

  return {
    find,
    get,

    /**
     * The context of a user reference, created (with no traits) when missing:
     * a signed-in widget visitor's sessions link to it before the
     * organization's backend has sent any trait.
     */
    async ensure(organizationId: string, userReference: string): Promise<UserContext> {
      const where = { organizationId_userReference: { organizationId, userReference } };
      const existing = await prisma.userContext.findUnique({ where });
      if (existing) return existing;
      try {
        return await prisma.userContext.create({ data: { organizationId, userReference } });
      } catch (error) {
        // Created at the same moment by another request: that one is the context.
        if ((error as { code?: string }).code !== 'P2002') throw error;
        return prisma.userContext.findUniqueOrThrow({ where });
      }
    },

    async list(viewer: Viewer, args: PageArgs): Promise<Page<UserContext>> {
      const where = { organizationId: viewer.organizationId };
      return findPage(
        args,
        (page) => prisma.userContext.findMany({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], ...page }),
        () => prisma.userContext.count({ where }),
      );
    },

    /**
     * Creates the context, or, when the reference exists already, merges the
     * traits into it (so an integration can send its users on every login).
     */
    async upsert(viewer: Viewer, input: z.input<typeof upsertSchema>): Promise<{ userContext: UserContext; created: boolean }> {
      const data = parseInput(upsertSchema, input);
      const organizationId = viewer.organizationId;
      const where = { organizationId_userReference: { organizationId, userReference: data.userReference } };
      const existing = await prisma.userContext.findUnique({ where });
      if (existing) return { userContext: await writeTraits(existing, data.traits ?? {}), created: false };
      try {
        const userContext = await prisma.userContext.create({
          data: { organizationId, userReference: data.userReference, traits: (data.traits ?? {}) as Prisma.InputJsonObject },
        });
        return { userContext, created: true };
      } catch (error) {
        // Two requests created the same reference at once: the loser merges into the winner.
        if ((error as { code?: string }).code !== 'P2002') throw error;
        const winner = await prisma.userContext.findUniqueOrThrow({ where });
        return { userContext: await writeTraits(winner, data.traits ?? {}), created: false };
      }
    },

    async update(viewer: Viewer, key: string, input: z.input<typeof updateSchema>): Promise<UserContext> {
      const context = await get(viewer, key);
      const data = parseInput(updateSchema, input);
      return writeTraits(context, data.traits);
    },

    async delete(viewer: Viewer, key: string): Promise<UserContext> {
      const context = await get(viewer, key);
      await prisma.userContext.delete({ where: { id: context.id } });
      return context;
    },
  };
}

export type UserContextService = ReturnType<typeof createUserContextService>;
