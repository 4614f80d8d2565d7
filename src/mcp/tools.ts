// The MCP tools an organization's API key gets: list its assistants, search
// its knowledge base (passages with their sources), ask an assistant (a
// grounded reply with its sources). One server is built per request, bound
// to the caller's organization, as the SDK's stateless servers are.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { AppError, internalErrorDetail } from '../errors.ts';
import type { Logger } from '../log.ts';
import { sourcesOf, usageOf } from '../http/message-json.ts';
import { PAGE_MAX } from '../services/validation.ts';
import type { Assistant } from '../services/assistant.ts';
import type { Services } from '../services/services.ts';
import type { ApiKeyViewer } from '../services/viewer.ts';

/** Recorded as the conversation's `channel`. */
const CHANNEL = 'mcp';
const SEARCH_DEFAULT = 5;
const SEARCH_MAX = 20;
const QUESTION_MAX_CHARS = 32_000;

const assistantShape = { id: z.string(), name: z.string(), description: z.string(), tone: z.string(), language: z.string() };
const sourceShape = { source_id: z.string(), kind: z.string(), title: z.string(), url: z.string().nullable(), snippet: z.string(), score: z.number() };
const passageShape = {
  source_id: z.string(),
  kind: z.string(),
  title: z.string(),
  url: z.string().nullable(),
  heading: z.string(),
  content: z.string(),
  score: z.number(),
};

/** A tool's result: the text a model reads, and the same as structured content for programs. */
const result = (text: string, structured: Record<string, unknown>): CallToolResult => ({
  content: [{ type: 'text', text }],
  structuredContent: structured,
});

/**
 * Runs a tool; a refusal the caller can act on (unknown assistant, model down)
 * is a tool error with its message, which the calling model can read, and
 * anything else is logged and reported without its cause.
 */
async function run(logger: Logger, requestId: string, tool: string, body: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await body();
  } catch (error) {
    if (!(error instanceof AppError)) logger.error({ request_id: requestId, tool, err: error }, 'MCP tool failed');
    const message = error instanceof AppError ? error.message : internalErrorDetail(requestId);
    return { isError: true, content: [{ type: 'text', text: message }] };
  }
}

const describe = (assistant: Assistant) => ({
  id: assistant.id,
  name: assistant.name,
  description: assistant.description,
  tone: assistant.tone,
  language: assistant.language,
});

export function createMcpServer({
  services,
  viewer,
  requestId,
  version,
  logger,
}: {
  services: Services;
  viewer: ApiKeyViewer;
  requestId: string;
  version: string;
  logger: Logger;
}) {
  const server = new McpServer(
    { name: 'assistant-gateway', version },
    { instructions: 'Assistants of one organization, answering from its knowledge base. List them, search the knowledge base, or ask one.' },
  );

  /** An active assistant of the organization, or a NOT_FOUND that says where ids come from. */
  async function activeAssistant(id: string): Promise<Assistant> {
    const assistant = await services.assistants.get(viewer, id).catch(() => null);
    if (!assistant?.isActive) {
      throw new AppError('NOT_FOUND', `No active assistant has the id ${JSON.stringify(id)}; list_assistants gives the ids.`);
    }
    return assistant;
  }

  server.registerTool(
    'list_assistants',
    {
      title: 'List assistants',
      description: 'The organization\'s active assistants (personas): id, name, description, tone and reply language. Use an id with ask_assistant or search_knowledge.',
      outputSchema: { assistants: z.array(z.object(assistantShape)) },
      annotations: { readOnlyHint: true },
    },
    () =>
      run(logger, requestId, 'list_assistants', async () => {
        const assistants: Assistant[] = [];
        for (let offset = 0; ; offset += PAGE_MAX) {
          const page = await services.assistants.list(viewer, { isActive: true, limit: PAGE_MAX, offset });
          assistants.push(...page.items);
          if (page.items.length < PAGE_MAX) break;
        }
        const listed = assistants.map(describe);
        const text = listed.length === 0 ? 'No active assistants.' : listed.map((a) => `${a.name} (id ${a.id})${a.description ? `: ${a.description}` : ''}`).join('\n');
        return result(text, { assistants: listed });
      }),
  );

  server.registerTool(
    'search_knowledge',
    {
      title: 'Search the knowledge base',
      description:
        'Finds the knowledge-base passages (uploaded files, Q&A pairs, web pages) that answer a question, best first, each with its source. ' +
        'With assistant_id, searches what that assistant answers from; without it, the sources shared by every assistant.',
      inputSchema: {
        query: z.string().trim().min(1).max(2000).describe('The question or keywords.'),
        assistant_id: z.string().optional().describe('Search what this assistant answers from (an id from list_assistants).'),
        limit: z.number().int().min(1).max(SEARCH_MAX).optional().describe(`How many passages at most (default ${SEARCH_DEFAULT}).`),
      },
      outputSchema: { passages: z.array(z.object(passageShape)), searched: z.boolean() },
      annotations: { readOnlyHint: true },
    },
    ({ query, assistant_id, limit }) =>
      run(logger, requestId, 'search_knowledge', async () => {
        const assistantId = assistant_id ? (await activeAssistant(assistant_id)).id : null;
        const found = await services.knowledge.retrieve({ organizationId: viewer.organizationId, assistantId, question: query, limit: limit ?? SEARCH_DEFAULT });
        const passages = found.references.map((reference) => ({
          source_id: reference.sourceId,
          kind: reference.kind,
          title: reference.title,
          url: reference.url,
          heading: reference.heading,
          content: reference.content,
          score: reference.score,
        }));
        const text =
          passages.length > 0
            ? passages.map((p, i) => `[${i + 1}] ${p.title}${p.url ? ` <${p.url}>` : ''} (${p.kind}, source ${p.source_id}, score ${p.score.toFixed(2)})\n${p.content}`).join('\n\n')
            : found.searched
              ? 'No passage of the knowledge base matches.'
              : 'The knowledge base has nothing indexed to search yet.';
        return result(text, { passages, searched: found.searched });
      }),
  );

  server.registerTool(
    'ask_assistant',
    {
      title: 'Ask an assistant',
      description:
        'Asks an assistant a question: it replies as its persona, grounded in the knowledge base, and the reply lists the sources it used. ' +
        'The exchange is stored as a conversation of the organization.',
      inputSchema: {
        assistant_id: z.string().describe('An id from list_assistants.'),
        question: z.string().trim().min(1).max(QUESTION_MAX_CHARS),
        user: z.string().trim().min(1).max(255).optional().describe('A user reference whose stored traits personalise the reply.'),
      },
      outputSchema: {
        reply: z.string(),
        sources: z.array(z.object(sourceShape)),
        conversation_id: z.string(),
        usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() }),
      },
    },
    ({ assistant_id, question, user }, extra) =>
      run(logger, requestId, 'ask_assistant', async () => {
        const assistant = await activeAssistant(assistant_id);
        const { conversation, assistantMessage, interruption } = await services.completions.complete(
          viewer,
          { assistantId: assistant.id, messages: [{ role: 'user', content: question }], userReference: user ?? null, channel: CHANNEL },
          { signal: extra.signal },
        );
        if (interruption) throw interruption;
        const sources = sourcesOf(assistantMessage);
        const cited = sources.map((s, i) => `[${i + 1}] ${s.title}${s.url ? ` <${s.url}>` : ''} (${s.kind}, source ${s.source_id})`).join('\n');
        return result(sources.length > 0 ? `${assistantMessage.content}\n\nSources:\n${cited}` : assistantMessage.content, {
          reply: assistantMessage.content,
          sources,
          conversation_id: conversation.id,
          usage: usageOf(assistantMessage),
        });
      }),
  );

  return server;
}
