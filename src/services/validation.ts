// Input rules shared by every service: one zod schema per input, failures
// turned into a 422 that names each field. GraphQL has already checked the
// types; these rules cover emptiness, lengths and ranges.
import { z } from 'zod';
import { invalid } from '../errors.ts';

export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw invalid(
    result.error.issues.map((issue) => ({
      field: issue.path.length > 0 ? issue.path.join('.') : 'input',
      message: issue.message,
    })),
  );
}

const MAX_JSON_BYTES = 16 * 1024;

/** A JSON object (not an array or a scalar), small enough to store with every row. */
export const jsonObject = (maxBytes = MAX_JSON_BYTES) =>
  z
    .record(z.string(), z.unknown(), { error: 'must be a JSON object' })
    .refine((value) => Buffer.byteLength(JSON.stringify(value)) <= maxBytes, {
      message: `must be at most ${maxBytes / 1024} KB of JSON`,
    });

export const text = (max: number) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
    .trim().max(max, { error: `must be at most ${max} characters` });
export const requiredText = (max: number) => text(max).min(1, { error: 'must not be empty' });

/** A BCP 47 language tag, the language of replies (en, pt-BR). */
export const languageTag = text(35).regex(/^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$/, {
  error: 'must be a language tag such as en or pt-BR',
});

export const PAGE_DEFAULT = 20;
export const PAGE_MAX = 100;

export const pageSchema = z.object({
  limit: z
    .number()
    .int()
    .min(1, { error: 'must be at least 1' })
    .max(PAGE_MAX, { error: `must be at most ${PAGE_MAX}` })
    .nullish()
    .transform((v) => v ?? PAGE_DEFAULT),
  offset: z
    .number()
    .int()
    .min(0, { error: 'must be 0 or more' })
    .nullish()
    .transform((v) => v ?? 0),
});

export type PageArgs = { limit?: number | null; offset?: number | null };
export type Page<T> = { items: T[]; total: number; limit: number; offset: number };

export function parsePage(args: PageArgs): { limit: number; offset: number } {
  return parseInput(pageSchema, { limit: args.limit, offset: args.offset });
}

/** One page of a list and the total, read together. */
export async function findPage<T>(
  args: PageArgs,
  find: (page: { take: number; skip: number }) => Promise<T[]>,
  count: () => Promise<number>,
): Promise<Page<T>> {
  const { limit, offset } = parsePage(args);
  const [items, total] = await Promise.all([find({ take: limit, skip: offset }), count()]);
  return { items, total, limit, offset };
}

/** Removes keys whose value is undefined, so a partial update leaves them alone. */
export function defined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; anything else cannot name a row, so callers answer 404 without asking the database. */
export const isUuid = (value: string) => UUID.test(value);
