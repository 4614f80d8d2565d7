// A stored reply's citations and token counts as the integration surfaces
// (OpenAI-compatible API, MCP) show them: snake_case, the shapes the REST
// API documents for `sources` and `usage`.
import type { Message, Source } from '../services/chat.ts';

/** A citation as every API of ours shows it (snake_case, as the REST API does). */
export type SourceJson = { source_id: string; kind: Source['kind']; title: string; url: string | null; snippet: string; score: number };

export function sourcesOf(message: Message): SourceJson[] {
  return ((message.sources ?? []) as Source[]).map((source) => ({
    source_id: source.sourceId,
    kind: source.kind,
    title: source.title,
    url: source.url,
    snippet: source.snippet,
    score: source.score,
  }));
}

/** OpenAI's usage object (total_tokens included), 0 where Ollama reported no count. */
export function usageOf(message: Message) {
  const prompt = message.promptTokens ?? 0;
  const completion = message.completionTokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

