// The REST API as a table: each documented endpoint is a GraphQL operation
// (src/rest/operations.graphql) plus how the path, query and body become its
// variables and how its result becomes the documented reply.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { invalid } from '../errors.ts';
import { camelCase } from './envelope.ts';
import type { VariableSource } from '../openapi/route-probe.ts';
import * as op from './operations.generated.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type RouteInput = {
  params: Record<string, string>;
  query: URLSearchParams;
  /** The JSON body with its top-level keys in camelCase (the body's own values untouched). */
  body: Record<string, unknown>;
  headers: Headers;
};

export type Route = {
  method: Method;
  /** Path below /api/v1, with :name segments; matched with or without a trailing slash. */
  path: string;
  /** The operation answering in JSON; a route without one answers only with server-sent events (406 otherwise). */
  document?: TypedDocumentNode<any, any>;
  /** The body the route reads: JSON (true), JSON that may be left out ('optional': none reads as {}) or a multipart form (file uploads). */
  body?: boolean | 'optional' | 'multipart';
  variables: (input: RouteInput) => Record<string, unknown>;
  /** The status and detail of a success; `data` is what the operation returned as `result`. */
  reply: (data: any) => { status: number; detail: string; data: unknown };
  /** A reply without the envelope (the widget-token endpoint, as documented). */
  bare?: boolean;
  /** The subscription that answers with server-sent events when the client sends Accept: text/event-stream. */
  streamDocument?: TypedDocumentNode<any, any>;
  /** The document is a subscription whose every `result` is one line of newline-delimited JSON, streamed as it comes (exports). */
  ndjson?: { filename: string };
  /**
   * What the OpenAPI document (GET /api/v1/openapi.json) cannot read from the
   * route itself; everything else there is derived from the route and its operation.
   */
  openapi?: {
    /** Instead of the one made from the operation's name. */
    summary?: string;
    /** Added to the root field's description. */
    description?: string;
    /** Refusals beyond those every route of its kind may answer (401, 429, 400/413/415/422 with a body, 404 for a record, 503 for a reply). */
    errors?: number[];
    /** Enum values every result of the route has where its variables do not say it (the kind of source it adds), by enum name: the reply's shape depends on them. */
    enums?: Record<string, string>;
    /** Where each variable comes from, for a mapping that validates what it reads (it cannot be probed). */
    variables?: Record<string, VariableSource>;
    /** Request headers the route reads. */
    headers?: Array<{ name: string; description: string }>;
  };
};

/** Query parameters arrive as text; numbers and booleans are converted when they look like one, otherwise GraphQL reports the field. */
function param(query: URLSearchParams, name: string): unknown {
  const raw = query.get(name);
  if (raw === null || raw === '') return undefined;
  if (/^-?\d+$/.test(raw)) return Number(raw);
  if (raw === 'true' || raw === 'false') return raw === 'true';
  return raw;
}

const page = ({ query }: RouteInput) => ({ limit: param(query, 'limit'), offset: param(query, 'offset') });
const text = (query: URLSearchParams, name: string) => query.get(name) || undefined;

/**
 * The id of the last event a client received: the Last-Event-ID header (an
 * EventSource sends it when it reconnects), or `last_event_id` in the query
 * (for a new EventSource, which cannot set headers). Absent: from the start.
 */
function lastEventId({ headers, query }: RouteInput): number | undefined {
  const raw = headers.get('last-event-id') ?? query.get('last_event_id');
  if (raw === null || raw.trim() === '') return undefined;
  if (!/^\d{1,9}$/.test(raw.trim())) {
    // Named as the query parameter: error fields are snake_case, and the header carries the same value.
    throw invalid([{ field: 'last_event_id', message: 'must be a whole number (from the Last-Event-ID header or last_event_id): the id of the last event received' }]);
  }
  return Number(raw.trim());
}

/** Stopping and resuming a reply of a session or a conversation (the path's :id). */
function replyRoutes(threads: 'sessions' | 'conversations'): Route[] {
  const thread = (id: string) => (threads === 'sessions' ? { sessionId: id } : { conversationId: id });
  return [
    {
      method: 'POST',
      path: `/${threads}/:id/messages/:messageId/stop`,
      document: op.RestStopMessageDocument,
      variables: ({ params }) => ({ id: params.messageId, ...thread(params.id) }),
      reply: ok('Reply stopped; what was streamed before the stop is stored'),
    },
    {
      method: 'GET',
      path: `/${threads}/:id/messages/:messageId/events`,
      streamDocument: op.RestReplyEventsDocument,
      variables: (input) => ({ id: input.params.messageId, ...thread(input.params.id), afterEventId: lastEventId(input) }),
      openapi: {
        variables: { id: { from: 'path', name: 'messageId' }, [threads === 'sessions' ? 'sessionId' : 'conversationId']: { from: 'path', name: 'id' }, afterEventId: { from: 'query', name: 'last_event_id' } },
        headers: [{ name: 'Last-Event-ID', description: 'The id of the last event received; the replay starts after it (the same as last_event_id).' }],
        errors: [406, 410],
      },
      // The replay ends as the reply's own stream did: its `done` event is the send's reply.
      reply: created('Message sent and reply generated'),
    },
  ];
}

const KNOWLEDGE = { files: 'file', qa: 'qa', urls: 'url' } as const;

/** Fields that belong to one kind of source only; the others are left out of REST replies. */
const KIND_FIELDS: Record<string, string[]> = {
  file: ['file_type', 'file_name', 'byte_size', 'content_hash'],
  qa: ['question', 'answer', 'tags', 'source'],
  url: ['url'],
};
const OWN_FIELDS = new Set(Object.values(KIND_FIELDS).flat());

function knowledgeShape(source: Record<string, unknown> | null) {
  if (!source) return source;
  const own = new Set(KIND_FIELDS[source.kind as string]);
  return Object.fromEntries(Object.entries(source).filter(([key]) => !OWN_FIELDS.has(key) || own.has(key)));
}

const accepted = (detail: string) => (data: unknown) => ({ status: 202, detail, data: knowledgeShape((data as { result: Record<string, unknown> }).result) });

function knowledgeRoutes(path: keyof typeof KNOWLEDGE): Route[] {
  const kind = KNOWLEDGE[path];
  return [
    {
      method: 'GET',
      path: `/knowledge/${path}`,
      document: op.RestListKnowledgeDocument,
      variables: (input) => ({ kind, ...page(input) }),
      reply: ({ result }: op.RestListKnowledgeQuery) => ({
        status: 200,
        detail: 'Knowledge sources retrieved',
        data: { ...result, items: result.items.map(knowledgeShape) },
      }),
    },
    {
      method: 'GET',
      path: `/knowledge/${path}/:id`,
      document: op.RestGetKnowledgeDocument,
      variables: ({ params }) => ({ kind, id: params.id }),
      reply: ({ result }: op.RestGetKnowledgeQuery) => ({ status: 200, detail: 'Knowledge source retrieved', data: knowledgeShape(result) }),
    },
    {
      method: 'DELETE',
      path: `/knowledge/${path}/:id`,
      document: op.RestDeleteKnowledgeDocument,
      variables: ({ params }) => ({ kind, id: params.id }),
      reply: deleted('Knowledge source deleted; its passages no longer answer questions'),
    },
  ];
}

/** The objects of a list in the body (an evaluation's cases) with camelCase keys, as the top level; anything else is left for GraphQL to report. */
const camelItems = (value: unknown) =>
  Array.isArray(value)
    ? value.map((item) =>
        item !== null && typeof item === 'object' && !Array.isArray(item) ? Object.fromEntries(Object.entries(item).map(([key, v]) => [camelCase(key), v])) : item,
      )
    : value;

/** Multipart fields arrive as text: a list of assistant ids may come comma-separated. */
const idList = (value: unknown) => (typeof value === 'string' ? value.split(',').map((id) => id.trim()).filter(Boolean) : value);

const ok = (detail: string) => (data: unknown) => ({ status: 200, detail, data: (data as { result: unknown }).result });
const created = (detail: string) => (data: unknown) => ({ status: 201, detail, data: (data as { result: unknown }).result });
const deleted = (detail: string) => () => ({ status: 200, detail, data: null });

const THREAD_DOCUMENTS = {
  sessions: {
    feedback: op.RestGiveSessionFeedbackDocument,
    handoff: op.RestRequestSessionHandoffDocument,
    operatorMessage: op.RestSendSessionOperatorMessageDocument,
    handBack: op.RestHandBackSessionDocument,
  },
  conversations: {
    feedback: op.RestGiveConversationFeedbackDocument,
    handoff: op.RestRequestConversationHandoffDocument,
    operatorMessage: op.RestSendConversationOperatorMessageDocument,
    handBack: op.RestHandBackConversationDocument,
  },
} as const;

/** Feedback and handoff, alike for sessions and conversations. */
function threadRoutes(path: keyof typeof THREAD_DOCUMENTS): Route[] {
  const documents = THREAD_DOCUMENTS[path];
  return [
    {
      method: 'POST',
      path: `/${path}/:id/messages/:messageId/feedback`,
      document: documents.feedback,
      body: true,
      variables: ({ params, body }) => ({ id: params.id, messageId: params.messageId, input: body }),
      reply: ({ result }: op.RestGiveSessionFeedbackMutation) =>
        result.created
          ? { status: 201, detail: 'Feedback recorded', data: result.feedback }
          : { status: 200, detail: 'Feedback replaced: this reply had been rated before', data: result.feedback },
    },
    {
      method: 'POST',
      path: `/${path}/:id/handoff`,
      document: documents.handoff,
      body: 'optional',
      variables: ({ params, body }) => ({ id: params.id, input: body }),
      reply: ({ result }: op.RestRequestSessionHandoffMutation) => ({
        status: 200,
        detail:
          result.handoff === 'active'
            ? `${result.handoff_operator} answers now; the assistant will not reply until it is handed back`
            : 'A person has been asked for; the assistant answers until one takes over',
        data: result,
      }),
    },
    {
      method: 'POST',
      path: `/${path}/:id/operator-messages`,
      document: documents.operatorMessage,
      body: true,
      variables: ({ params, body }) => ({ id: params.id, input: body }),
      reply: created('Operator message sent'),
    },
    {
      method: 'POST',
      path: `/${path}/:id/handback`,
      document: documents.handBack,
      variables: ({ params }) => ({ id: params.id }),
      reply: ok('Handed back: the assistant answers again'),
    },
  ];
}

const feedbackFilter = ({ query }: RouteInput) => ({
  rating: text(query, 'rating'),
  assistantId: text(query, 'assistant_id'),
  since: text(query, 'since'),
});

export const routes: Route[] = [
  {
    method: 'POST',
    path: '/auth/widget-token',
    document: op.RestCreateWidgetTokenDocument,
    body: true,
    bare: true,
    variables: ({ body }) => ({ clientId: body.clientId, previousToken: body.previousToken, userToken: body.userToken }),
    reply: ok('Widget token issued'),
  },

  {
    method: 'GET',
    path: '/assistants',
    document: op.RestListAssistantsDocument,
    variables: (input) => ({ ...page(input), isActive: param(input.query, 'is_active') }),
    reply: ok('Assistants retrieved'),
  },
  {
    method: 'POST',
    path: '/assistants',
    document: op.RestCreateAssistantDocument,
    body: true,
    variables: ({ body }) => ({ input: body }),
    reply: created('Assistant created'),
  },
  {
    method: 'GET',
    path: '/assistants/:id',
    document: op.RestGetAssistantDocument,
    variables: ({ params }) => ({ id: params.id }),
    reply: ok('Assistant retrieved'),
  },
  ...(['PATCH', 'PUT'] as const).map(
    (method): Route => ({
      method,
      path: '/assistants/:id',
      document: op.RestUpdateAssistantDocument,
      body: true,
      variables: ({ params, body }) => ({ id: params.id, input: body }),
      reply: ok('Assistant updated'),
    }),
  ),
  {
    method: 'DELETE',
    path: '/assistants/:id',
    document: op.RestDeleteAssistantDocument,
    variables: ({ params }) => ({ id: params.id }),
    reply: deleted('Assistant deleted'),
  },

  {
    method: 'GET',
    path: '/sessions',
    document: op.RestListSessionsDocument,
    variables: (input) => ({
      ...page(input),
      assistantId: text(input.query, 'assistant_id'),
      visitorId: text(input.query, 'visitor_id'),
      handoff: text(input.query, 'handoff'),
    }),
    reply: ok('Sessions retrieved'),
  },
  {
    method: 'POST',
    path: '/sessions',
    document: op.RestCreateSessionDocument,
    body: true,
    openapi: { errors: [409] },
    variables: ({ body }) => ({ input: body }),
    reply: created('Session created'),
  },
  {
    method: 'GET',
    path: '/sessions/:id',
    document: op.RestGetSessionDocument,
    variables: ({ params }) => ({ id: params.id }),
    reply: ok('Session retrieved'),
  },
  {
    method: 'GET',
    path: '/sessions/:id/messages',
    document: op.RestListSessionMessagesDocument,
    variables: (input) => ({ id: input.params.id, ...page(input) }),
    reply: (data: op.RestListSessionMessagesQuery) => ({ status: 200, detail: 'Messages retrieved', data: data.session.result }),
  },
  {
    method: 'POST',
    path: '/sessions/:id/messages',
    document: op.RestSendSessionMessageDocument,
    body: true,
    streamDocument: op.RestStreamSessionMessageDocument,
    variables: ({ params, body }) => ({ id: params.id, input: body }),
    reply: created('Message sent and reply generated'),
  },
  ...replyRoutes('sessions'),

  ...threadRoutes('sessions'),

  {
    method: 'GET',
    path: '/conversations',
    document: op.RestListConversationsDocument,
    variables: (input) => ({
      ...page(input),
      customerId: text(input.query, 'customer_id'),
      assistantId: text(input.query, 'assistant_id'),
      handoff: text(input.query, 'handoff'),
    }),
    reply: ok('Conversations retrieved'),
  },
  {
    method: 'POST',
    path: '/conversations',
    document: op.RestCreateConversationDocument,
    body: true,
    openapi: { errors: [409] },
    variables: ({ body }) => ({ input: body }),
    reply: created('Conversation created'),
  },
  {
    method: 'GET',
    path: '/conversations/:id',
    document: op.RestGetConversationDocument,
    variables: ({ params }) => ({ id: params.id }),
    reply: ok('Conversation retrieved'),
  },
  {
    method: 'GET',
    path: '/conversations/:id/messages',
    document: op.RestListConversationMessagesDocument,
    variables: (input) => ({ id: input.params.id, ...page(input) }),
    reply: (data: op.RestListConversationMessagesQuery) => ({
      status: 200,
      detail: 'Messages retrieved',
      data: data.conversation.result,
    }),
  },
  {
    method: 'POST',
    path: '/conversations/:id/messages',
    document: op.RestSendConversationMessageDocument,
    body: true,
    streamDocument: op.RestStreamConversationMessageDocument,
    variables: ({ params, body }) => ({ id: params.id, input: body }),
    reply: created('Message sent and reply generated'),
  },
  ...replyRoutes('conversations'),

  ...threadRoutes('conversations'),

  {
    method: 'GET',
    path: '/feedback',
    document: op.RestListFeedbackDocument,
    variables: (input) => ({ ...page(input), ...feedbackFilter(input) }),
    reply: ok('Feedback retrieved'),
  },
  {
    method: 'GET',
    path: '/feedback/export',
    document: op.RestExportFeedbackDocument,
    ndjson: { filename: 'feedback.ndjson' },
    variables: feedbackFilter,
    reply: ok('Feedback exported'),
  },

  {
    method: 'POST',
    path: '/webhooks',
    document: op.RestCreateWebhookDocument,
    body: true,
    variables: ({ body }) => ({ input: body }),
    reply: ({ result }: op.RestCreateWebhookMutation) => ({
      status: 201,
      detail: 'Webhook created; keep its secret now, it is not shown again',
      data: { ...result.webhook, secret: result.secret },
    }),
  },
  {
    method: 'GET',
    path: '/webhooks',
    document: op.RestListWebhooksDocument,
    variables: page,
    reply: ok('Webhooks retrieved'),
  },
  {
    method: 'GET',
    path: '/webhooks/:id',
    document: op.RestGetWebhookDocument,
    variables: ({ params }) => ({ id: params.id }),
    reply: ok('Webhook retrieved'),
  },
  {
    method: 'DELETE',
    path: '/webhooks/:id',
    document: op.RestDeleteWebhookDocument,
    variables: ({ params }) => ({ id: params.id }),
    reply: deleted('Webhook deleted; deliveries not yet sent to it are dropped'),
  },
  {
    method: 'GET',
    path: '/webhooks/:id/deliveries',
    document: op.RestListWebhookDeliveriesDocument,
    variables: (input) => ({ id: input.params.id, ...page(input), status: text(input.query, 'status') }),
    reply: (data: op.RestListWebhookDeliveriesQuery) => ({ status: 200, detail: 'Deliveries retrieved', data: data.webhook.result }),
  },

  ...knowledgeRoutes('files'),
  {
    method: 'POST',
    path: '/knowledge/files',
    document: op.RestUploadKnowledgeFileDocument,
    openapi: { enums: { KnowledgeKind: 'file' } },
    body: 'multipart',
    variables: ({ body }) => ({ input: { ...body, assistantIds: idList(body.assistantIds) } }),
    reply: ({ result }: op.RestUploadKnowledgeFileMutation) =>
      !result.duplicate
        ? { status: 202, detail: 'File accepted; it is being indexed', data: knowledgeShape(result.source) }
        : // Still in the background (or queued again after it failed): 202, as for a new upload.
          ['pending', 'processing'].includes(result.source.status)
          ? { status: 202, detail: 'This file was uploaded before; the existing source is being indexed', data: knowledgeShape(result.source) }
          : { status: 200, detail: 'This file was uploaded before; the existing source is returned', data: knowledgeShape(result.source) },
  },
  ...knowledgeRoutes('qa'),
  {
    method: 'POST',
    path: '/knowledge/qa',
    document: op.RestAddKnowledgeQaDocument,
    openapi: { enums: { KnowledgeKind: 'qa' } },
    body: true,
    variables: ({ body }) => ({ input: body }),
    reply: accepted('Q&A pair accepted; it is being indexed'),
  },
  ...knowledgeRoutes('urls'),
  {
    method: 'POST',
    path: '/knowledge/urls',
    document: op.RestAddKnowledgeUrlDocument,
    openapi: { enums: { KnowledgeKind: 'url' } },
    body: true,
    variables: ({ body }) => ({ input: body }),
    reply: accepted('Web page accepted; it is being fetched and indexed'),
  },
  {
    method: 'POST',
    path: '/knowledge/urls/:id/sync',
    document: op.RestSyncKnowledgeUrlDocument,
    openapi: { enums: { KnowledgeKind: 'url' } },
    variables: ({ params }) => ({ id: params.id }),
    reply: accepted('The page is being fetched again'),
  },
  {
    method: 'POST',
    path: '/knowledge/search',
    document: op.RestSearchKnowledgeDocument,
    body: true,
    variables: ({ body }) => ({ input: body }),
    reply: ({ result }: op.RestSearchKnowledgeQuery) => ({
      status: 200,
      detail: !result.searched
        ? 'Nothing is indexed for this assistant yet: a reply would be given no passages'
        : result.passages.length === 0
          ? 'No passage matches: a reply would be told that the knowledge base does not hold the answer'
          : `${result.passages.length} passage${result.passages.length === 1 ? '' : 's'} found, best first: what a reply would be given`,
      data: result,
    }),
  },
  {
    method: 'POST',
    path: '/knowledge/evaluations',
    document: op.RestEvaluateKnowledgeDocument,
    body: true,
    variables: ({ body }) => ({ input: { ...body, cases: camelItems(body.cases) } }),
    reply: ({ result }: op.RestEvaluateKnowledgeQuery) => ({
      status: 200,
      detail: `Evaluated ${result.total} question${result.total === 1 ? '' : 's'}: recall@1 ${result.recall_at_1}, recall@5 ${result.recall_at_5}, MRR ${result.mrr}`,
      data: result,
    }),
  },

  {
    method: 'GET',
    path: '/contexts',
    document: op.RestListUserContextsDocument,
    variables: page,
    reply: ok('User contexts retrieved'),
  },
  {
    method: 'POST',
    path: '/contexts',
    document: op.RestUpsertUserContextDocument,
    body: true,
    variables: ({ body }) => ({ input: body }),
    reply: ({ result }: op.RestUpsertUserContextMutation) =>
      result.created
        ? { status: 201, detail: 'User context created', data: result.user_context }
        : { status: 200, detail: 'User context existed; traits merged', data: result.user_context },
  },
  {
    method: 'GET',
    path: '/contexts/:key',
    document: op.RestGetUserContextDocument,
    variables: ({ params }) => ({ key: params.key }),
    reply: ok('User context retrieved'),
  },
  ...(['PATCH', 'PUT'] as const).map(
    (method): Route => ({
      method,
      path: '/contexts/:key',
      document: op.RestUpdateUserContextDocument,
      body: true,
      variables: ({ params, body }) => ({ key: params.key, input: body }),
      reply: ok('User context updated; traits merged'),
    }),
  ),
  {
    method: 'DELETE',
    path: '/contexts/:key',
    document: op.RestDeleteUserContextDocument,
    variables: ({ params }) => ({ key: params.key }),
    reply: deleted('User context deleted'),
  },
];
