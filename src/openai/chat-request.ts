// What a POST /v1/chat/completions body asks for, read the way OpenAI reads
// it. Only what changes our answer is kept: the model (an assistant id), the
// messages as text, streaming, and `user` (a user reference). Sampling
// settings (temperature, max_tokens...) are accepted and left to the
// assistant's own; tools are never called.
import { z } from 'zod';
import { invalid } from '../errors.ts';
import { snakeCase } from '../rest/envelope.ts';
import type { CompletionInput } from '../services/completion.ts';

const part = z.looseObject({ type: z.string(), text: z.string().optional() });

const message = z.looseObject({
  role: z.string({ error: 'must be a string' }),
  // Assistant turns that only called tools carry null.
  content: z.union([z.string(), z.array(part), z.null()], { error: 'must be a string or an array of text parts' }),
});

/** The body as it is checked; its descriptions are the API reference's (GET /api/v1/openapi.json). Top-level keys arrive camelCased. */
export const chatRequestSchema = z.looseObject({
  model: z
    .string({ error: 'must name an assistant id (see GET /v1/models)' })
    .min(1, { error: 'must name an assistant id (see GET /v1/models)' })
    .meta({ description: "An active assistant's id, as GET /v1/models lists them." }),
  messages: z.array(message, { error: 'must be an array of messages' }).meta({
    description: 'The chat so far, oldest first; the last is the question. System messages are kept as instructions; image and other non-text parts are refused.',
  }),
  stream: z.boolean({ error: 'must be true or false' }).nullish().meta({ description: 'Stream the reply as chat.completion.chunk events ending with data: [DONE].' }),
  streamOptions: z
    .looseObject({ include_usage: z.boolean({ error: 'must be true or false' }).nullish() })
    .nullish()
    .meta({ description: 'include_usage: a last chunk with the whole reply\'s usage.' }),
  user: z.string({ error: 'must be a string' }).nullish().meta({ description: 'A user reference (POST /api/v1/contexts): its traits personalise the reply.' }),
  n: z.literal(1, { error: 'must be 1: one reply is generated per request' }).nullish(),
});

export type ChatRequest = {
  model: string;
  messages: CompletionInput['messages'];
  stream: boolean;
  /** stream_options.include_usage: a last chunk carrying `usage` before [DONE]. */
  includeUsage: boolean;
  user: string | null;
};

/** OpenAI's newer name for system instructions. */
const ROLE_ALIASES: Record<string, string> = { developer: 'system' };

/** The text of a message's content; parts other than text are refused by name. */
function textOf(content: z.infer<typeof message>['content'], index: number): string {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((piece, j) => {
      if (piece.type !== 'text' || typeof piece.text !== 'string') {
        throw invalid([{ field: `messages.${index}.content.${j}`, message: `must be a text part: ${JSON.stringify(piece.type)} parts are not supported` }]);
      }
      return piece.text as string;
    })
    .join('');
}

export function readChatRequest(body: Record<string, unknown>): ChatRequest {
  const parsed = chatRequestSchema.safeParse(body);
  if (!parsed.success) {
    // Fields are named as the client sent them (the body's keys arrive camelCased).
    throw invalid(parsed.error.issues.map((issue) => ({ field: issue.path.map((key) => snakeCase(String(key))).join('.') || 'input', message: issue.message })));
  }
  const data = parsed.data;
  return {
    model: data.model,
    messages: data.messages.map((m, i) => ({ role: (ROLE_ALIASES[m.role] ?? m.role) as 'user', content: textOf(m.content, i) })),
    stream: data.stream ?? false,
    includeUsage: data.streamOptions?.include_usage ?? false,
    user: data.user ?? null,
  };
}
