// Offset pagination shared by every list: `limit` (default 20, at most 100) and
// `offset`, answered with the items, the total and the page actually used.
import type { ObjectRef } from '@pothos/core';
import { PAGE_DEFAULT, PAGE_MAX, type Page } from '../services/validation.ts';
import { builder } from './builder.ts';

export function pageRef<T>(name: string, item: ObjectRef<any, T>) {
  return builder.objectRef<Page<T>>(`${name}Page`).implement({
    description: `A page of ${name} items.`,
    fields: (t) => ({
      items: t.field({ type: [item], resolve: (page) => page.items }),
      total: t.exposeInt('total', { description: 'How many items match, across all pages.' }),
      limit: t.exposeInt('limit'),
      offset: t.exposeInt('offset'),
    }),
  });
}

/** The `limit` and `offset` arguments of every list field. */
export const pageArgs = builder.args((t) => ({
  limit: t.int({ description: `Page size, 1 to ${PAGE_MAX} (default ${PAGE_DEFAULT}).` }),
  offset: t.int({ description: 'Items to skip (default 0).' }),
}));
