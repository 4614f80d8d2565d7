import { AssistantRef } from './assistant.ts';
import { builder } from './builder.ts';
import { messagesOf } from './message-pages.ts';
import { MessagePage, SendMessageInput, SendMessagePayload } from './message.ts';
import { pageArgs, pageRef } from './page.ts';

export const SessionRef = builder.prismaObject('Session', {
  description: 'An anonymous visitor\'s chat with an assistant.',
  fields: (t) => ({
    id: t.exposeID('id'),
    assistantId: t.exposeID('assistantId'),
    assistant: t.relation('assistant', { type: AssistantRef }),
    visitorId: t.exposeString('visitorId', { nullable: true }),
    userContextId: t.exposeID('userContextId', {
      nullable: true,
      description: 'The user context of the signed-in visitor who opened it (a widget token bound by a user token); null for anonymous visitors.',
    }),
    locale: t.exposeString('locale', { nullable: true }),
    metadata: t.expose('metadata', { type: 'JSONObject' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    messages: t.field({
      type: MessagePage,
      description: 'Messages, oldest first.',
      args: pageArgs,
      resolve: (session, args, ctx) => messagesOf(ctx, session, 'sessionId', args),
    }),
  }),
});

const SessionPage = pageRef('Session', SessionRef);

const CreateSessionInput = builder.inputType('CreateSessionInput', {
  fields: (t) => ({
    assistantId: t.id({ required: true }),
    visitorId: t.string({ description: 'Defaults to the widget token\'s visitor id.' }),
    locale: t.string({ description: 'Language tag of the replies; overrides the assistant\'s language.' }),
    metadata: t.field({ type: 'JSONObject' }),
  }),
});

builder.queryFields((t) => ({
  session: t.field({
    type: SessionRef,
    authScopes: { viewer: true },
    description: 'A widget token sees only the sessions it opened.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.sessions.get(ctx.viewer!, String(id)),
  }),
  sessions: t.field({
    type: SessionPage,
    authScopes: { apiKey: true },
    description: 'Sessions, newest first.',
    args: { ...pageArgs, assistantId: t.arg.id(), visitorId: t.arg.string(), handoff: t.arg.string({ description: 'Only sessions in this handoff state: none, requested or active.' }) },
    resolve: (_root, args, ctx) =>
      ctx.services.sessions.list(ctx.viewer!, { ...args, assistantId: args.assistantId == null ? null : String(args.assistantId) }),
  }),
}));

builder.mutationFields((t) => ({
  createSession: t.field({
    type: SessionRef,
    authScopes: { viewer: true },
    args: { input: t.arg({ type: CreateSessionInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.sessions.create(ctx.viewer!, { ...input, assistantId: String(input.assistantId) }),
  }),
  sendSessionMessage: t.field({
    type: SendMessagePayload,
    authScopes: { viewer: true },
    description: 'Stores the message, asks the model and stores its reply. The message is kept even when the model fails.',
    args: { sessionId: t.arg.id({ required: true }), input: t.arg({ type: SendMessageInput, required: true }) },
    resolve: async (_root, { sessionId, input }, ctx) => {
      const session = await ctx.services.sessions.get(ctx.viewer!, String(sessionId));
      return ctx.services.chat.send({ sessionId: session.id }, input, { signal: ctx.signal, opened: session });
    },
  }),
}));
