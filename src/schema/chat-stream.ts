// Replies as they are generated. `streamSessionMessage` and
// `streamConversationMessage` send a message and stream its reply to the
// sender (ending the subscription stops the generation; what was generated is
// kept as an incomplete reply). `sessionEvents` and `conversationEvents` let
// anyone else allowed to see the thread watch it live. Every event of a reply
// carries its `eventId`, the number the REST stream sends as `id:`.
import type { Context } from '../context.ts';
import { createPushQueue } from '../lib/push-queue.ts';
import { UNREAD_EVENTS_MAX, type ChatEvent } from '../services/chat-events.ts';
import type { OpenedThread, Thread } from '../services/chat.ts';
import { builder } from './builder.ts';
import { asWritten, SendMessageInput } from './message.ts';

type Event<K extends ChatEvent['kind']> = Extract<ChatEvent, { kind: K }>;
/** A failure of the sender's own stream, turned into a GraphQL error by `resolve`. */
type StreamItem = ChatEvent | { kind: 'error'; error: unknown };

const MessageReceived = builder.objectRef<Event<'received'>>('MessageReceived').implement({
  description: 'The user\'s message was stored; the reply is being generated.',
  fields: (t) => ({ userMessage: t.prismaField({ type: 'Message', resolve: (_query, e) => asWritten(e.userMessage) }) }),
});

const EVENT_ID = 'Its number in the reply\'s events: 1 for MessageStarted, then one more for each event. Resuming after it (replyEvents) replays what followed.';

const MessageStarted = builder.objectRef<Event<'started'>>('MessageStarted').implement({
  description: 'The reply is being generated: its id is what stopMessage and replyEvents take.',
  fields: (t) => ({
    eventId: t.exposeInt('eventId', { description: EVENT_ID }),
    userMessage: t.prismaField({ type: 'Message', resolve: (_query, e) => asWritten(e.userMessage) }),
    // Nullable only so that a client can select assistantMessage on MessageStarted and
    // MessageCompleted (null there during a handoff) in one query: GraphQL requires one type
    // per response key. Never null here.
    assistantMessage: t.prismaField({ type: 'Message', nullable: true, description: 'Status streaming, no content yet. Never null.', resolve: (_query, e) => asWritten(e.assistantMessage) }),
  }),
});

const MessageDelta = builder.objectRef<Event<'delta'>>('MessageDelta').implement({
  description: 'The next piece of the reply.',
  fields: (t) => ({
    eventId: t.exposeInt('eventId', { description: EVENT_ID }),
    userMessageId: t.exposeID('userMessageId', { description: 'The message this reply answers.' }),
    assistantMessageId: t.exposeID('assistantMessageId', { description: 'The reply this piece belongs to.' }),
    delta: t.exposeString('delta'),
  }),
});

const MessageCompleted = builder.objectRef<Event<'completed'>>('MessageCompleted').implement({
  description: 'The reply was stored: complete; incomplete when it was cut short; stopped when stopMessage ended it.',
  fields: (t) => ({
    eventId: t.exposeInt('eventId', { description: EVENT_ID }),
    userMessage: t.prismaField({ type: 'Message', resolve: (_query, e) => asWritten(e.userMessage) }),
    assistantMessage: t.prismaField({
      type: 'Message',
      nullable: true,
      description: 'Null while a person answers the thread (handoff): the model was not asked.',
      resolve: (_query, e) => e.assistantMessage && asWritten(e.assistantMessage),
    }),
  }),
});

const MessageFailed = builder.objectRef<Event<'failed'>>('MessageFailed').implement({
  description: 'No reply could be generated (the user\'s message is stored).',
  fields: (t) => ({
    eventId: t.exposeInt('eventId', { description: EVENT_ID }),
    userMessage: t.prismaField({ type: 'Message', resolve: (_query, e) => asWritten(e.userMessage) }),
    code: t.exposeString('code'),
    detail: t.exposeString('detail'),
  }),
});

const OperatorMessage = builder.objectRef<Event<'operator'>>('OperatorMessage').implement({
  description: 'A person who took over the thread wrote a message (role operator).',
  fields: (t) => ({ message: t.prismaField({ type: 'Message', resolve: (_query, e) => asWritten(e.message) }) }),
});

const HandoffChanged = builder.objectRef<Event<'handoff'>>('HandoffChanged').implement({
  description: 'The thread was handed to a person (requested), taken over (active) or handed back (none).',
  fields: (t) => ({
    state: t.exposeString('state'),
    operator: t.exposeString('operator', { nullable: true }),
    reason: t.exposeString('reason', { nullable: true }),
  }),
});

const typeNames = {
  received: 'MessageReceived',
  started: 'MessageStarted',
  delta: 'MessageDelta',
  completed: 'MessageCompleted',
  failed: 'MessageFailed',
  operator: 'OperatorMessage',
  handoff: 'HandoffChanged',
} as const;

export const ChatEventRef = builder.unionType('ChatEvent', {
  types: [MessageReceived, MessageStarted, MessageDelta, MessageCompleted, MessageFailed, OperatorMessage, HandoffChanged],
  resolveType: (event) => typeNames[(event as ChatEvent).kind],
});

/**
 * Sends a message (once the subscriber first reads) and yields its events;
 * stopping the iteration aborts the generation. Failures become an item,
 * since an error thrown from a stream would end it without telling the client why.
 */
function sendAsStream(
  ctx: Context,
  thread: Thread,
  opened: OpenedThread,
  input: { content: string; metadata?: Record<string, unknown> | null },
): AsyncIterable<StreamItem> {
  const abort = new AbortController();
  const stopGenerating = () => abort.abort();
  const queue = createPushQueue<StreamItem>({
    limit: UNREAD_EVENTS_MAX,
    onStart: () => void send(),
    // The subscriber leaving (unsubscribe, closed socket, dropped HTTP request) stops the generation.
    onReturn: stopGenerating,
  });
  async function send() {
    ctx.signal?.addEventListener('abort', stopGenerating, { once: true });
    let completed: Event<'completed'> | undefined;
    try {
      const { userMessage, assistantMessage, interruption } = await ctx.services.chat.send(thread, input, {
        signal: abort.signal,
        opened,
        onEvent: (event) => {
          // The outcome is queued below once known: a completion, or the error that `send` throws.
          if (event.kind === 'completed') completed = event;
          if (event.kind === 'completed' || event.kind === 'failed') return;
          // A client too slow to take the reply's pieces gives up its reply: the generation
          // stops and what was generated is stored as incomplete.
          if (!queue.push(event)) stopGenerating();
        },
      });
      // A reply the model cut short ends the stream with an error, not as a completion.
      queue.end(interruption ? { kind: 'error', error: interruption } : (completed ?? { kind: 'completed', eventId: 0, userMessage, assistantMessage }));
    } catch (error) {
      queue.end({ kind: 'error', error });
    } finally {
      // A WebSocket's signal lives as long as the connection: leave no listener behind.
      ctx.signal?.removeEventListener('abort', stopGenerating);
    }
  }
  return queue.items;
}

const passEvent = (item: StreamItem): ChatEvent => {
  if (item.kind === 'error') throw item.error;
  return item;
};

builder.subscriptionFields((t) => ({
  streamSessionMessage: t.field({
    type: ChatEventRef,
    authScopes: { viewer: true },
    description: 'Sends a message to a session and streams the reply: MessageReceived, MessageStarted, MessageDelta…, MessageCompleted.',
    args: { sessionId: t.arg.id({ required: true }), input: t.arg({ type: SendMessageInput, required: true }) },
    subscribe: async (_root, { sessionId, input }, ctx) => {
      const session = await ctx.services.sessions.get(ctx.viewer!, String(sessionId));
      return sendAsStream(ctx, { sessionId: session.id }, session, input);
    },
    resolve: passEvent,
  }),
  streamConversationMessage: t.field({
    type: ChatEventRef,
    authScopes: { apiKey: true },
    description: 'Sends a message to a conversation and streams the reply: MessageReceived, MessageStarted, MessageDelta…, MessageCompleted.',
    args: { conversationId: t.arg.id({ required: true }), input: t.arg({ type: SendMessageInput, required: true }) },
    subscribe: async (_root, { conversationId, input }, ctx) => {
      const conversation = await ctx.services.conversations.get(ctx.viewer!, String(conversationId));
      return sendAsStream(ctx, { conversationId: conversation.id }, conversation, input);
    },
    resolve: passEvent,
  }),
  sessionEvents: t.field({
    type: ChatEventRef,
    authScopes: { viewer: true },
    description: 'Everything that happens in a session from now on, whoever sends the messages.',
    args: { sessionId: t.arg.id({ required: true }) },
    subscribe: async (_root, { sessionId }, ctx) => {
      const session = await ctx.services.sessions.get(ctx.viewer!, String(sessionId));
      return ctx.services.chat.watch({ sessionId: session.id });
    },
    resolve: (event: ChatEvent) => event,
  }),
  conversationEvents: t.field({
    type: ChatEventRef,
    authScopes: { apiKey: true },
    description: 'Everything that happens in a conversation from now on, whoever sends the messages.',
    args: { conversationId: t.arg.id({ required: true }) },
    subscribe: async (_root, { conversationId }, ctx) => {
      const conversation = await ctx.services.conversations.get(ctx.viewer!, String(conversationId));
      return ctx.services.chat.watch({ conversationId: conversation.id });
    },
    resolve: (event: ChatEvent) => event,
  }),
}));
