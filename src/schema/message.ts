import type { Prisma } from '../../generated/prisma/client.ts';
import { builder } from './builder.ts';
import { pageRef } from './page.ts';

export type SourceShape = {
  sourceId: string;
  kind: 'file' | 'qa' | 'url';
  title: string;
  url: string | null;
  snippet: string;
  score: number;
};

const SourceRef = builder.objectRef<SourceShape>('Source').implement({
  description: 'A knowledge-base passage a reply was grounded in.',
  fields: (t) => ({
    sourceId: t.exposeID('sourceId'),
    kind: t.exposeString('kind', { description: 'file, qa or url.' }),
    title: t.exposeString('title'),
    url: t.exposeString('url', { nullable: true }),
    snippet: t.exposeString('snippet'),
    score: t.exposeFloat('score'),
  }),
});

type MessageRow = Prisma.MessageGetPayload<object>;

const UsageRef = builder.objectRef<MessageRow>('Usage').implement({
  description: 'Tokens the model read and wrote for this reply, as Ollama counted them.',
  fields: (t) => ({
    promptTokens: t.int({ nullable: true, resolve: (m) => m.promptTokens }),
    completionTokens: t.int({ nullable: true, resolve: (m) => m.completionTokens }),
  }),
});

export const MessageRef = builder.prismaObject('Message', {
  fields: (t) => ({
    id: t.exposeID('id'),
    role: t.exposeString('role', { description: 'user or assistant; operator for a person who took over the thread (handoff); system for instructions that an OpenAI-compatible client sent with its history.' }),
    content: t.exposeString('content'),
    status: t.exposeString('status', {
      description: 'complete; streaming (being generated: its content so far, saved about every second); incomplete (the reply was cut short, its content is what was generated); stopped (stopMessage ended it: its content is what was streamed before the stop); failed (no reply).',
    }),
    model: t.exposeString('model', { nullable: true }),
    error: t.exposeString('error', { nullable: true, description: 'Why the reply is incomplete or failed.' }),
    metadata: t.expose('metadata', { type: 'JSONObject' }),
    sources: t.field({ type: [SourceRef], resolve: (m) => (m.sources ?? []) as SourceShape[] }),
    usage: t.field({ type: UsageRef, nullable: true, resolve: (m) => (m.role === 'assistant' ? m : null) }),
    latencyMs: t.exposeInt('latencyMs', { nullable: true, description: 'From the message arriving to the reply being stored.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

/**
 * A message as a send returns it and as a reply's events carry it. Its one relation, its
 * rating, cannot exist yet (only a finished reply can be rated, and not before it is
 * returned), so the row says so: without the empty rating Pothos would read each message
 * again to find it. A replay's outcome comes with the rating it has now (replyControl.events).
 */
export const asWritten = (row: MessageRow & { feedback?: Prisma.FeedbackGetPayload<object> | null }) =>
  row.feedback === undefined ? { ...row, feedback: null } : row;

export const SendMessageInput = builder.inputType('SendMessageInput', {
  fields: (t) => ({
    content: t.string({ required: true }),
    metadata: t.field({ type: 'JSONObject' }),
  }),
});

export const SendMessagePayload = builder
  .objectRef<{ userMessage: MessageRow; assistantMessage: MessageRow | null }>('SendMessagePayload')
  .implement({
    fields: (t) => ({
      userMessage: t.prismaField({ type: 'Message', resolve: (_query, p) => asWritten(p.userMessage) }),
      assistantMessage: t.prismaField({
        type: 'Message',
        nullable: true,
        description: 'Null while a person answers the thread (handoff): the message is stored and the model is not asked.',
        resolve: (_query, p) => p.assistantMessage && asWritten(p.assistantMessage),
      }),
    }),
  });

export const MessagePage = pageRef('Message', MessageRef);
