// Stopping a reply and resuming its events. Both take the reply's id (from
// MessageStarted, or the messages list) and, optionally, the thread it must
// belong to, as the REST paths name it. A widget token reaches only the
// replies of its own sessions.
import type { Context } from '../context.ts';
import { AppError } from '../errors.ts';
import type { ReplyEvent } from '../services/chat-events.ts';
import type { ThreadFilter } from '../services/reply-control.ts';
import { builder } from './builder.ts';
import { ChatEventRef } from './chat-stream.ts';
import { MessageRef } from './message.ts';

type ThreadArgs = { sessionId?: string | number | null; conversationId?: string | number | null };

function threadOf(ctx: Context, args: ThreadArgs): ThreadFilter {
  // Conversations are the API key's alone, as everywhere else.
  if (args.conversationId != null && ctx.viewer?.kind === 'widget') {
    throw new AppError('FORBIDDEN', 'A widget token cannot do this; use the organization\'s API key and secret.');
  }
  return {
    sessionId: args.sessionId == null ? null : String(args.sessionId),
    conversationId: args.conversationId == null ? null : String(args.conversationId),
  };
}

builder.mutationFields((t) => ({
  stopMessage: t.field({
    type: MessageRef,
    authScopes: { viewer: true },
    description:
      'Stops a reply being generated, on whichever instance generates it, and returns it as stored: status stopped, ' +
      'its content exactly what was streamed before the stop (its stream ends with MessageCompleted). A reply already finished is a CONFLICT.',
    args: {
      id: t.arg.id({ required: true, description: 'The reply (assistant message).' }),
      sessionId: t.arg.id({ description: 'When given, the reply must belong to this session.' }),
      conversationId: t.arg.id({ description: 'When given, the reply must belong to this conversation.' }),
    },
    resolve: (_root, args, ctx) => ctx.services.replyControl.stop(ctx.viewer!, String(args.id), threadOf(ctx, args)),
  }),
}));

builder.subscriptionFields((t) => ({
  replyEvents: t.field({
    type: ChatEventRef,
    authScopes: { viewer: true },
    description:
      'The events of a reply after afterEventId (from its start when absent), then the live ones until it ends; ' +
      'for a finished reply, the replay ends with its outcome. The pieces up to afterEventId plus those replayed are the stored content exactly.',
    args: {
      id: t.arg.id({ required: true, description: 'The reply (assistant message).' }),
      sessionId: t.arg.id({ description: 'When given, the reply must belong to this session.' }),
      conversationId: t.arg.id({ description: 'When given, the reply must belong to this conversation.' }),
      afterEventId: t.arg.int({ description: 'The eventId of the last event received.' }),
    },
    subscribe: (_root, args, ctx) => ctx.services.replyControl.events(ctx.viewer!, String(args.id), threadOf(ctx, args), args.afterEventId ?? 0),
    resolve: (event: ReplyEvent) => event,
  }),
}));
