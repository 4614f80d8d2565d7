// The two kinds of chat thread as resolvers open them: a session (any viewer
// allowed to see it: a widget token only its own) or a conversation (API keys).
// Handoff and feedback fields are declared once per kind from these.
import type { Context } from '../context.ts';
import type { Thread } from '../services/chat.ts';
import type { Conversation } from '../services/conversation.ts';
import type { Session } from '../services/session.ts';

export async function openSession(ctx: Context, id: string | number): Promise<{ thread: Thread; row: Session }> {
  const row = await ctx.services.sessions.get(ctx.viewer!, String(id));
  return { thread: { sessionId: row.id }, row };
}

export async function openConversation(ctx: Context, id: string | number): Promise<{ thread: Thread; row: Conversation }> {
  const row = await ctx.services.conversations.get(ctx.viewer!, String(id));
  return { thread: { conversationId: row.id }, row };
}
