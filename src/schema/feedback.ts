// Ratings of replies: given on a session's or conversation's message, shown on
// the message, listed and exported (a subscription that yields every matching
// rating, which REST streams as NDJSON).
import { builder } from './builder.ts';
import { MessageRef } from './message.ts';
import { pageArgs, pageRef } from './page.ts';
import { openConversation, openSession } from './threads.ts';

export const FeedbackRef = builder.prismaObject('Feedback', {
  description: 'A rating of an assistant\'s reply.',
  fields: (t) => ({
    id: t.exposeID('id'),
    messageId: t.exposeID('messageId'),
    message: t.relation('message', { type: MessageRef }),
    assistantId: t.exposeID('assistantId'),
    sessionId: t.exposeID('sessionId', { nullable: true }),
    conversationId: t.exposeID('conversationId', { nullable: true }),
    rating: t.exposeString('rating', { description: 'up or down.' }),
    comment: t.exposeString('comment', { nullable: true }),
    givenBy: t.exposeString('givenBy', { description: 'api_key or widget.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it was last given (a new rating replaces the earlier one).' }),
  }),
});

builder.prismaObjectField(MessageRef, 'feedback', (t) =>
  t.relation('feedback', { type: FeedbackRef, nullable: true, description: 'The rating of this reply, if it was given one.' }),
);

const FeedbackPage = pageRef('Feedback', FeedbackRef);

const GiveFeedbackInput = builder.inputType('GiveFeedbackInput', {
  fields: (t) => ({
    rating: t.string({ required: true, description: 'up or down.' }),
    comment: t.string(),
  }),
});

const GiveFeedbackPayload = builder.objectRef<{ feedback: { id: string }; created: boolean }>('GiveFeedbackPayload').implement({
  fields: (t) => ({
    created: t.exposeBoolean('created', { description: 'False when it replaced an earlier rating of the same reply.' }),
    feedback: t.field({ type: FeedbackRef, resolve: (p) => p.feedback as never }),
  }),
});

const filterArgs = builder.args((t) => ({
  rating: t.string({ description: 'up or down.' }),
  assistantId: t.id(),
  since: t.field({ type: 'DateTime', description: 'Only feedback given at or after this time.' }),
}));

const filterOf = (args: { rating?: string | null; assistantId?: string | number | null; since?: Date | null }) => ({
  rating: args.rating,
  assistantId: args.assistantId == null ? null : String(args.assistantId),
  since: args.since,
});

builder.mutationFields((t) => ({
  giveSessionFeedback: t.field({
    type: GiveFeedbackPayload,
    authScopes: { viewer: true },
    description: 'Rates an assistant reply of a session (a widget token: of its own session).',
    args: { sessionId: t.arg.id({ required: true }), messageId: t.arg.id({ required: true }), input: t.arg({ type: GiveFeedbackInput, required: true }) },
    resolve: async (_root, { sessionId, messageId, input }, ctx) => {
      const { thread, row } = await openSession(ctx, sessionId);
      return ctx.services.feedback.give(ctx.viewer!, { thread, assistantId: row.assistantId }, String(messageId), input);
    },
  }),
  giveConversationFeedback: t.field({
    type: GiveFeedbackPayload,
    authScopes: { apiKey: true },
    description: 'Rates an assistant reply of a conversation.',
    args: { conversationId: t.arg.id({ required: true }), messageId: t.arg.id({ required: true }), input: t.arg({ type: GiveFeedbackInput, required: true }) },
    resolve: async (_root, { conversationId, messageId, input }, ctx) => {
      const { thread, row } = await openConversation(ctx, conversationId);
      return ctx.services.feedback.give(ctx.viewer!, { thread, assistantId: row.assistantId }, String(messageId), input);
    },
  }),
}));

builder.queryFields((t) => ({
  feedback: t.field({
    type: FeedbackPage,
    authScopes: { apiKey: true },
    description: 'Feedback on replies, the most recently given first.',
    args: { ...pageArgs, ...filterArgs },
    resolve: (_root, args, ctx) => ctx.services.feedback.list(ctx.viewer!, { limit: args.limit, offset: args.offset, ...filterOf(args) }),
  }),
}));

builder.subscriptionFields((t) => ({
  exportFeedback: t.field({
    type: FeedbackRef,
    authScopes: { apiKey: true },
    description: 'Every matching feedback, oldest first, one event each; ends after the last.',
    args: filterArgs,
    subscribe: (_root, args, ctx) => ctx.services.feedback.export(ctx.viewer!, filterOf(args)),
    resolve: (feedback) => feedback,
  }),
}));
