// One page of messages for each of many threads in three queries, whatever
// their number: a list of conversations (or sessions) with their messages would
// otherwise ask the database twice per item (the page, its total). Used per
// GraphQL request through a DataLoader (src/schema/message-pages.ts).
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';
import type { Message } from './chat.ts';
import type { StreamingReplies } from './streaming-replies.ts';
import { parsePage, type Page, type PageArgs } from './validation.ts';

export type ThreadColumn = 'sessionId' | 'conversationId';

export function createMessagePages({ prisma, replies }: { prisma: PrismaClient; replies: StreamingReplies }) {
  /**
   * The same page (oldest first) of each thread's messages, in the order of
   * `threadIds`; the threads are ones the caller may already see, all of one kind
   * and of one organization, which every query names as well.
   */
  async function pagesOf(organizationId: string, column: ThreadColumn, threadIds: string[], args: PageArgs): Promise<Page<Message>[]> {
    const { limit, offset } = parsePage(args);
    const scope = { organizationId, [column]: { in: threadIds } };
    const thread = Prisma.raw(`"${column}"`);
    const [counts, ranked] = await Promise.all([
      prisma.message.groupBy({ by: [column], where: scope, _count: { _all: true } }),
      // Each thread's page by its position in that thread, in one pass over their messages.
      prisma.$queryRaw<Array<{ id: string }>>`
        SELECT id FROM (
          SELECT id, row_number() OVER (PARTITION BY ${thread} ORDER BY "createdAt", id) AS position
          FROM "Message"
          WHERE "organizationId" = ${organizationId}::uuid AND ${thread} = ANY (${threadIds}::uuid[])
        ) m
        WHERE position > ${offset} AND position <= ${offset + limit}`,
    ]);
    const messages = ranked.length
      ? await prisma.message.findMany({ where: { organizationId, id: { in: ranked.map((row) => row.id) } }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] })
      : [];
    const totals = new Map(counts.map((row) => [row[column] as string, row._count._all]));
    const items = new Map<string, Message[]>(threadIds.map((id) => [id, []]));
    for (const message of messages) {
      if (message.status === 'streaming') message.content = replies.current(message.id) ?? message.content;
      items.get(message[column]!)?.push(message);
    }
    return threadIds.map((id) => ({ items: items.get(id)!, total: totals.get(id) ?? 0, limit, offset }));
  }

  return { pagesOf };
}
