// A thread's messages as a field of a session or conversation, batched per
// request: every item of a list asking for the same page shares three queries
// (src/services/message-pages.ts) instead of two each. DataLoader collects the
// items resolved in one tick; one loader per request context, so nothing is
// cached across requests or organizations.
import DataLoader from 'dataloader';
import type { Context } from '../context.ts';
import type { Message } from '../services/chat.ts';
import type { ThreadColumn } from '../services/message-pages.ts';
import type { Page, PageArgs } from '../services/validation.ts';

type Key = { organizationId: string; column: ThreadColumn; threadId: string; args: PageArgs };

const loaders = new WeakMap<Context, DataLoader<Key, Page<Message>, string>>();

/** Which page of which kind of thread a key asks for, whatever the thread: keys alike in this are one batch. */
const pageOf = (key: Key) => `${key.organizationId}:${key.column}:${key.args.limit ?? ''}:${key.args.offset ?? ''}`;

function loaderOf(ctx: Context) {
  let loader = loaders.get(ctx);
  if (!loader) {
    loader = new DataLoader<Key, Page<Message>, string>(
      async (keys) => {
        // Keys asking for the same page of the same kind of thread are one batch.
        const groups = new Map<string, Key[]>();
        for (const key of keys) {
          const group = pageOf(key);
          groups.set(group, [...(groups.get(group) ?? []), key]);
        }
        const pages = new Map<Key, Page<Message> | Error>();
        await Promise.all(
          [...groups.values()].map(async (group) => {
            const { organizationId, column, args } = group[0];
            try {
              const found = await ctx.services.messagePages.pagesOf(organizationId, column, group.map((key) => key.threadId), args);
              group.forEach((key, i) => pages.set(key, found[i]));
            } catch (error) {
              for (const key of group) pages.set(key, error as Error);
            }
          }),
        );
        return keys.map((key) => pages.get(key)!);
      },
      { cacheKeyFn: (key) => `${pageOf(key)}:${key.threadId}` },
    );
    loaders.set(ctx, loader);
  }
  return loader;
}

/** One page of the thread's messages, oldest first, batched with the other threads of this request. */
export function messagesOf(ctx: Context, thread: { organizationId: string; id: string }, column: ThreadColumn, args: PageArgs): Promise<Page<Message>> {
  return loaderOf(ctx).load({ organizationId: thread.organizationId, column, threadId: thread.id, args: { limit: args.limit, offset: args.offset } });
}
