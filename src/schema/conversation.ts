import { AssistantRef } from './assistant.ts';
import { builder } from './builder.ts';
import { messagesOf } from './message-pages.ts';
import { MessagePage, SendMessageInput, SendMessagePayload } from './message.ts';
import { pageArgs, pageRef } from './page.ts';
import { UserContextRef } from './user-context.ts';

export const ConversationRef = builder.prismaObject('Conversation', {
  description: 'A known customer\'s persistent chat with an assistant.',
  fields: (t) => ({
    id: t.exposeID('id'),
    assistantId: t.exposeID('assistantId'),
    assistant: t.relation('assistant', { type: AssistantRef }),
    customerId: t.exposeString('customerId', { nullable: true }),
    title: t.exposeString('title', { nullable: true }),
    locale: t.exposeString('locale', { nullable: true }),
    userContextId: t.exposeID('userContextId', { nullable: true }),
    userContext: t.relation('userContext', { type: UserContextRef, nullable: true }),
    metadata: t.expose('metadata', { type: 'JSONObject' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    messages: t.field({
      type: MessagePage,
      description: 'Messages, oldest first.',
      args: pageArgs,
      resolve: (conversation, args, ctx) => messagesOf(ctx, conversation, 'conversationId', args),
    }),
  }),
});

const ConversationPage = pageRef('Conversation', ConversationRef);

const CreateConversationInput = builder.inputType('CreateConversationInput', {
  fields: (t) => ({
    assistantId: t.id({ required: true }),
    customerId: t.string({ description: 'Your id for the customer; also finds a user context with this reference.' }),
    title: t.string(),
    locale: t.string({ description: 'Language tag of the replies; overrides the assistant\'s language.' }),
    userContextId: t.string({ description: 'A user context\'s id or its user reference.' }),
    metadata: t.field({ type: 'JSONObject' }),
  }),
});

builder.queryFields((t) => ({
  conversation: t.field({
    type: ConversationRef,
    authScopes: { apiKey: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.conversations.get(ctx.viewer!, String(id)),
  }),
  conversations: t.field({
    type: ConversationPage,
    authScopes: { apiKey: true },
    description: 'Conversations, newest first.',
    args: { ...pageArgs, customerId: t.arg.string(), assistantId: t.arg.id(), handoff: t.arg.string({ description: 'Only conversations in this handoff state: none, requested or active.' }) },
    resolve: (_root, args, ctx) =>
      ctx.services.conversations.list(ctx.viewer!, {
        ...args,
        assistantId: args.assistantId == null ? null : String(args.assistantId),
      }),
  }),
}));

builder.mutationFields((t) => ({
  createConversation: t.field({
    type: ConversationRef,
    authScopes: { apiKey: true },
    args: { input: t.arg({ type: CreateConversationInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.conversations.create(ctx.viewer!, { ...input, assistantId: String(input.assistantId) }),
  }),
  sendConversationMessage: t.field({
    type: SendMessagePayload,
    authScopes: { apiKey: true },
    description: 'Stores the message, asks the model and stores its reply. The message is kept even when the model fails.',
    args: { conversationId: t.arg.id({ required: true }), input: t.arg({ type: SendMessageInput, required: true }) },
    resolve: async (_root, { conversationId, input }, ctx) => {
      const conversation = await ctx.services.conversations.get(ctx.viewer!, String(conversationId));
      return ctx.services.chat.send({ conversationId: conversation.id }, input, { signal: ctx.signal, opened: conversation });
    },
  }),
}));
