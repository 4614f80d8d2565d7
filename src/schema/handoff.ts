// Handing a session or conversation to a person: the state on both kinds of
// thread, the operator on messages, and the mutations that ask for a person,
// take over, write as the operator and hand back.
import { HANDOFF_STATES } from '../services/handoff-state.ts';
import { builder } from './builder.ts';
import { ConversationRef } from './conversation.ts';
import { MessageRef } from './message.ts';
import { SessionRef } from './session.ts';
import { openConversation, openSession } from './threads.ts';

const STATE_DESCRIPTION = `${HANDOFF_STATES.join(', ')}: requested while someone waits for a person (the assistant still answers); active while a person answers (the model is not asked).`;

for (const ref of [SessionRef, ConversationRef] as const) {
  builder.prismaObjectFields(ref as typeof SessionRef, (t) => ({
    handoff: t.exposeString('handoffState', { description: STATE_DESCRIPTION }),
    handoffOperator: t.exposeString('handoffOperator', { nullable: true, description: 'Who answers while the handoff is active.' }),
    handoffReason: t.exposeString('handoffReason', { nullable: true, description: 'Why a person was asked for.' }),
    handoffChangedAt: t.expose('handoffChangedAt', { type: 'DateTime', nullable: true }),
  }));
}

builder.prismaObjectField(MessageRef, 'operator', (t) =>
  t.exposeString('operator', { nullable: true, description: 'The person who wrote a message of role operator.' }),
);

const RequestHandoffInput = builder.inputType('RequestHandoffInput', {
  fields: (t) => ({
    operator: t.string({ description: 'Who takes over (API keys only); without it, a person is asked for.' }),
    reason: t.string(),
  }),
});

const OperatorMessageInput = builder.inputType('OperatorMessageInput', {
  fields: (t) => ({
    content: t.string({ required: true }),
    operator: t.string({ required: true, description: 'The person writing.' }),
    metadata: t.field({ type: 'JSONObject' }),
  }),
});

const REQUEST = 'Without an operator, asks for a person (state requested; the handoff.requested webhook fires once). With one (API keys only), that person takes over (state active): the model answers no more until handed back.';
const OPERATOR = 'Stores a message of the operator who took over (role operator); watchers of the thread see it at once.';
const HAND_BACK = 'Ends the handoff: the assistant answers the next message, with the operator\'s messages in its history.';

builder.mutationFields((t) => ({
  requestSessionHandoff: t.field({
    type: SessionRef,
    authScopes: { viewer: true },
    description: REQUEST,
    args: { sessionId: t.arg.id({ required: true }), input: t.arg({ type: RequestHandoffInput }) },
    resolve: async (_root, { sessionId, input }, ctx) => ctx.services.handoff.request(ctx.viewer!, await openSession(ctx, sessionId), input ?? {}),
  }),
  requestConversationHandoff: t.field({
    type: ConversationRef,
    authScopes: { apiKey: true },
    description: REQUEST,
    args: { conversationId: t.arg.id({ required: true }), input: t.arg({ type: RequestHandoffInput }) },
    resolve: async (_root, { conversationId, input }, ctx) =>
      ctx.services.handoff.request(ctx.viewer!, await openConversation(ctx, conversationId), input ?? {}),
  }),
  sendSessionOperatorMessage: t.field({
    type: MessageRef,
    authScopes: { apiKey: true },
    description: OPERATOR,
    args: { sessionId: t.arg.id({ required: true }), input: t.arg({ type: OperatorMessageInput, required: true }) },
    resolve: async (_root, { sessionId, input }, ctx) => ctx.services.handoff.operatorMessage(ctx.viewer!, await openSession(ctx, sessionId), input),
  }),
  sendConversationOperatorMessage: t.field({
    type: MessageRef,
    authScopes: { apiKey: true },
    description: OPERATOR,
    args: { conversationId: t.arg.id({ required: true }), input: t.arg({ type: OperatorMessageInput, required: true }) },
    resolve: async (_root, { conversationId, input }, ctx) =>
      ctx.services.handoff.operatorMessage(ctx.viewer!, await openConversation(ctx, conversationId), input),
  }),
  handBackSession: t.field({
    type: SessionRef,
    authScopes: { apiKey: true },
    description: HAND_BACK,
    args: { sessionId: t.arg.id({ required: true }) },
    resolve: async (_root, { sessionId }, ctx) => ctx.services.handoff.handBack(ctx.viewer!, await openSession(ctx, sessionId)),
  }),
  handBackConversation: t.field({
    type: ConversationRef,
    authScopes: { apiKey: true },
    description: HAND_BACK,
    args: { conversationId: t.arg.id({ required: true }) },
    resolve: async (_root, { conversationId }, ctx) => ctx.services.handoff.handBack(ctx.viewer!, await openConversation(ctx, conversationId)),
  }),
}));
