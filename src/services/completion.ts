// Replies to a chat whose history the client sends whole with every request,
// as OpenAI-compatible clients and MCP's ask tool do. Each request becomes a
// conversation of its own: the turns it brought are stored as that
// conversation's history, then its last message is sent through the chat
// service like any other. So the persona, retrieval, traits, reply slots,
// failure handling and stored sources are the chat service's, written once;
// and the organization can read what its integrations asked, with citations,
// in its conversations. The cost is storing the history again per request.
import { z } from 'zod';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { AppError, invalid } from '../errors.ts';
import { MESSAGE_MAX_CHARS, type ChatService, type SendOptions } from './chat.ts';
import type { ConversationService } from './conversation.ts';
import { parseInput, requiredText } from './validation.ts';
import type { ApiKeyViewer } from './viewer.ts';

/** Turns one request may bring; its body size bounds it too. */
export const COMPLETION_MAX_MESSAGES = 500;
const TITLE_CHARS = 80;

const turn = z.object({
  role: z.enum(['system', 'user', 'assistant'], { error: 'must be "system", "user" or "assistant"' }),
  // Earlier assistant turns may be empty (a reply that said nothing); the rest is checked by the chat service.
  content: z.string().max(MESSAGE_MAX_CHARS, { error: `must be at most ${MESSAGE_MAX_CHARS} characters` }),
});

const completeSchema = z.object({
  assistantId: z.string(),
  messages: z
    .array(turn)
    .min(1, { error: 'must hold at least one message' })
    .max(COMPLETION_MAX_MESSAGES, { error: `must hold at most ${COMPLETION_MAX_MESSAGES} messages` }),
  userReference: requiredText(255).nullish(),
  /** Who asked (stored in the conversation's metadata as `channel`). */
  channel: z.string(),
});

export type CompletionInput = z.input<typeof completeSchema>;

export function createCompletionService({
  prisma,
  conversations,
  chat,
}: {
  prisma: PrismaClient;
  conversations: ConversationService;
  chat: ChatService;
}) {
  return {
    /**
     * Answers the last message (which must be the user's) as the assistant,
     * with the earlier ones as history. `userReference` names a user context
     * whose traits personalise the reply (none is needed). Fails as
     * `chat.send` does; the result names the conversation that holds it all.
     */
    async complete(viewer: ApiKeyViewer, input: CompletionInput, options: Omit<SendOptions, 'opened'> = {}) {
      const data = parseInput(completeSchema, input);
      const last = data.messages.at(-1)!;
      const lastField = `messages.${data.messages.length - 1}`;
      if (last.role !== 'user') throw invalid([{ field: `${lastField}.role`, message: 'must be "user": the last message is the one answered' }]);
      if (last.content.trim() === '') throw invalid([{ field: `${lastField}.content`, message: 'must not be empty' }]);
      const firstQuestion = data.messages.find((message) => message.role === 'user')!.content.trim();
      const conversation = await conversations.create(viewer, {
        assistantId: data.assistantId,
        customerId: data.userReference ?? null,
        title: firstQuestion.length > TITLE_CHARS ? `${firstQuestion.slice(0, TITLE_CHARS - 1).trimEnd()}…` : firstQuestion || null,
        metadata: { channel: data.channel },
      });
      const earlier = data.messages.slice(0, -1);
      if (earlier.length > 0) {
        // Written in one statement, they would share one timestamp; the history is read in time order.
        // A second back, so that the message sent next is the newest whatever clock stamps it.
        const start = Date.now() - 1000 - earlier.length;
        await prisma.message.createMany({
          data: earlier.map(
            (message, i): Prisma.MessageCreateManyInput => ({
              conversationId: conversation.id,
              organizationId: viewer.organizationId,
              role: message.role,
              content: message.content,
              metadata: { channel: data.channel, sentBy: 'client' },
              createdAt: new Date(start + i),
            }),
          ),
        });
      }
      const sent = await chat.send({ conversationId: conversation.id }, { content: last.content, metadata: { channel: data.channel } }, { ...options, opened: conversation });
      // A conversation created a moment ago has no person answering it, so the model always replies.
      if (!sent.assistantMessage) throw new AppError('CONFLICT', 'A person answers this conversation; the model was not asked.');
      return { conversation, ...sent, assistantMessage: sent.assistantMessage };
    },
  };
}

export type CompletionService = ReturnType<typeof createCompletionService>;
