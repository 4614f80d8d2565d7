// The public shapes of what webhooks carry in `data`: the same snake_case
// fields as the REST API shows for a message, a knowledge source, feedback or
// a handoff, so a receiver reads them like any reply of the API.
import type { Prisma } from '../../generated/prisma/client.ts';

type MessageRow = Prisma.MessageGetPayload<object>;
type SourceRow = Omit<Prisma.KnowledgeSourceGetPayload<object>, 'content'>;
type FeedbackRow = Prisma.FeedbackGetPayload<object>;

type Sources = Array<{ sourceId: string; kind: string; title: string; url: string | null; snippet: string; score: number }>;

/** Where a message lives: exactly one of the two ids is set. */
export const threadData = (row: { sessionId: string | null; conversationId: string | null }) => ({
  session_id: row.sessionId,
  conversation_id: row.conversationId,
});

export function messageData(message: MessageRow) {
  return {
    id: message.id,
    ...threadData(message),
    role: message.role,
    operator: message.operator,
    content: message.content,
    status: message.status,
    model: message.model,
    error: message.error,
    metadata: message.metadata,
    sources: ((message.sources ?? []) as Sources).map((s) => ({
      source_id: s.sourceId,
      kind: s.kind,
      title: s.title,
      url: s.url,
      snippet: s.snippet,
      score: s.score,
    })),
    usage: message.role === 'assistant' ? { prompt_tokens: message.promptTokens, completion_tokens: message.completionTokens } : null,
    latency_ms: message.latencyMs,
    created_at: message.createdAt,
  };
}

export function sourceData(source: SourceRow) {
  return {
    id: source.id,
    kind: source.kind,
    title: source.title,
    status: source.status,
    error: source.error,
    chunk_count: source.chunkCount,
    indexed_at: source.indexedAt,
    assistant_ids: source.assistantIds,
    ...(source.kind === 'url' ? { url: source.url } : {}),
    ...(source.kind === 'file' ? { file_type: source.fileType, file_name: source.fileName } : {}),
    ...(source.kind === 'qa' ? { question: source.question } : {}),
    created_at: source.createdAt,
    updated_at: source.updatedAt,
  };
}

export function feedbackData(feedback: FeedbackRow) {
  return {
    id: feedback.id,
    message_id: feedback.messageId,
    assistant_id: feedback.assistantId,
    ...threadData(feedback),
    rating: feedback.rating,
    comment: feedback.comment,
    given_by: feedback.givenBy,
    created_at: feedback.createdAt,
    updated_at: feedback.updatedAt,
  };
}
