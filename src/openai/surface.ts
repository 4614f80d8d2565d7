// The OpenAI-compatible API under /v1, for the chat tools that speak OpenAI's
// protocol (the openai SDKs, Open WebUI, LibreChat...): base URL
// http://HOST:PORT/v1, API key CLIENT_ID:CLIENT_SECRET. Models are the
// organization's active assistants; a chat completion answers as the
// assistant, grounded in the knowledge base, through the chat service
// (src/services/completion.ts says how the messages become a conversation).
// API keys only: widget tokens are for the REST API's visitor sessions.
import { AppError } from '../errors.ts';
import { admitApiKey } from '../http/api-key-only.ts';
import type { Surface } from '../http/edge.ts';
import { EVENT_STREAM_HEADERS } from '../http/streamed-body.ts';
import { readJsonBody } from '../rest/body.ts';
import type { Logger } from '../log.ts';
import { jsonResponse } from '../rest/envelope.ts';
import type { Assistant } from '../services/assistant.ts';
import { PAGE_MAX } from '../services/validation.ts';
import type { Services } from '../services/services.ts';
import type { ApiKeyViewer } from '../services/viewer.ts';
import { readChatRequest, type ChatRequest } from './chat-request.ts';
import { chunks, completionBody, eventStream, type ReplyHeader } from './chat-reply.ts';
import { internalErrorBody, modelNotFound, openAiErrorBody, openAiErrorResponse } from './errors.ts';

export const OPENAI_PREFIX = '/v1';
/** Recorded as the conversation's `channel`. */
const CHANNEL = 'openai';

/** How the API key is sent here, for the 401's message. */
const HOW = '"Authorization: Bearer CLIENT_ID:CLIENT_SECRET" (the openai SDK\'s apiKey)';

const modelOf = (assistant: Assistant) => ({
  id: assistant.id,
  object: 'model',
  created: Math.floor(assistant.createdAt.getTime() / 1000),
  owned_by: 'organization',
  // Read by chat tools that show a model's name (Open WebUI shows it instead of the id).
  name: assistant.name,
  description: assistant.description,
});

/** A path segment as sent; one that is not valid percent-encoding names no model either. */
function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

type Route = {
  method: 'GET' | 'POST';
  path: RegExp;
  serve: (viewer: ApiKeyViewer, request: Request, params: string[], requestId: string) => Promise<Response>;
};

export type OpenAiSurfaceOptions = {
  services: Services;
  bodyMaxBytes: number;
  /** Where a failure after a stream began is logged (before, the edge logs it). */
  logger: Logger;
  /** Called when a streamed reply starts; the function it returns, once the stream has ended (the open-streams gauge). */
  streamOpened?: () => () => void;
};

export function openAiSurface({ services, bodyMaxBytes, logger, streamOpened = () => () => {} }: OpenAiSurfaceOptions): Surface {
  /** An active assistant of the viewer's organization, or OpenAI's model_not_found. */
  async function activeAssistant(viewer: ApiKeyViewer, id: string): Promise<Assistant> {
    const assistant = await services.assistants.get(viewer, id).catch((error: unknown) => {
      if (error instanceof AppError && error.extensions.code === 'NOT_FOUND') return null;
      throw error;
    });
    if (!assistant?.isActive) throw modelNotFound(id);
    return assistant;
  }

  async function listModels(viewer: ApiKeyViewer) {
    const assistants: Assistant[] = [];
    for (let offset = 0; ; offset += PAGE_MAX) {
      const page = await services.assistants.list(viewer, { isActive: true, limit: PAGE_MAX, offset });
      assistants.push(...page.items);
      if (page.items.length < PAGE_MAX) break;
    }
    return jsonResponse({ object: 'list', data: assistants.map(modelOf) }, 200);
  }

  async function complete(viewer: ApiKeyViewer, request: Request, requestId: string): Promise<Response> {
    const chat = readChatRequest(await readJsonBody(request, bodyMaxBytes));
    const assistant = await activeAssistant(viewer, chat.model);
    const header = { model: chat.model, created: Math.floor(Date.now() / 1000) };
    const input = { assistantId: assistant.id, messages: chat.messages, userReference: chat.user, channel: CHANNEL };
    if (chat.stream) return stream(viewer, request, requestId, chat, input, header);
    const { conversation, assistantMessage, interruption } = await services.completions.complete(viewer, input, { signal: request.signal });
    // A reply cut short by the model is not presented as finished.
    if (interruption) throw interruption;
    return jsonResponse(completionBody({ ...header, conversationId: conversation.id }, assistantMessage), 200);
  }

  /**
   * Streams the reply. The response starts with the first piece of it, so a
   * model that fails before saying anything is still an HTTP error (503) the
   * client can act on; a failure after that ends the stream with an `error`
   * event in OpenAI's shape, which the SDK raises.
   */
  async function stream(
    viewer: ApiKeyViewer,
    request: Request,
    requestId: string,
    chat: ChatRequest,
    input: Parameters<Services['completions']['complete']>[1],
    header: Omit<ReplyHeader, 'conversationId'>,
  ): Promise<Response> {
    const stop = new AbortController();
    const events = eventStream(() => stop.abort());
    let conversationId = '';
    let format: ReturnType<typeof chunks> | null = null;
    let began!: () => void;
    const beginning = new Promise<void>((resolve) => (began = resolve));
    const startStream = () => {
      format ??= chunks({ ...header, conversationId, includeUsage: chat.includeUsage });
      events.send(format.role());
      began();
      return format;
    };
    const replying = services.completions.complete(viewer, input, {
      signal: AbortSignal.any([request.signal, stop.signal]),
      onEvent(event) {
        if (event.kind === 'received') conversationId = event.userMessage.conversationId!;
        if (event.kind === 'delta') events.send((format ?? startStream()).content(event.delta));
      },
    });
    try {
      // Rejects (and so answers with an HTTP error) only when the reply failed before its first piece.
      await Promise.race([beginning, replying]);
    } catch (error) {
      events.close(false);
      throw error;
    }
    events.onEnd(streamOpened());
    replying.then(
      ({ assistantMessage, interruption }) => {
        const reply = format ?? startStream();
        if (interruption) {
          events.send(openAiErrorBody(interruption));
          return events.close(false);
        }
        events.send(reply.finish(assistantMessage));
        if (chat.includeUsage) events.send(reply.usage(assistantMessage));
        events.close(true);
      },
      (error: unknown) => {
        if (!(error instanceof AppError)) logger.error({ request_id: requestId, route: '/v1/chat/completions', err: error }, 'chat completion failed mid-stream');
        events.send(error instanceof AppError ? openAiErrorBody(error) : internalErrorBody(requestId));
        events.close(false);
      },
    );
    return new Response(events.body, { status: 200, headers: EVENT_STREAM_HEADERS });
  }

  const routes: Route[] = [
    { method: 'GET', path: /^\/models\/?$/, serve: (viewer) => listModels(viewer) },
    { method: 'GET', path: /^\/models\/([^/]+)\/?$/, serve: async (viewer, _request, [id]) => jsonResponse(modelOf(await activeAssistant(viewer, decoded(id))), 200) },
    { method: 'POST', path: /^\/chat\/completions\/?$/, serve: (viewer, request, _params, requestId) => complete(viewer, request, requestId) },
  ];

  return {
    matches: (url) => url.pathname === OPENAI_PREFIX || url.pathname.startsWith(`${OPENAI_PREFIX}/`),
    // The known paths as they are, a model's id as a pattern: metrics must not grow with what clients send.
    route: (_request, url) =>
      url.pathname === `${OPENAI_PREFIX}/chat/completions` || url.pathname === `${OPENAI_PREFIX}/models`
        ? url.pathname
        : url.pathname.startsWith(`${OPENAI_PREFIX}/models/`)
          ? `${OPENAI_PREFIX}/models/:id`
          : `${OPENAI_PREFIX} (no route)`,
    renderError: openAiErrorResponse,

    async serve(request, { url, requestId }, admit) {
      const path = url.pathname.slice(OPENAI_PREFIX.length);
      const found = routes.map((route) => ({ route, params: route.path.exec(path) })).filter(({ params }) => params);
      // Unknown paths and methods are answered before admission: they cost no budget.
      if (found.length === 0) {
        throw new AppError('NOT_FOUND', `Invalid URL (${request.method} ${url.pathname}): this API serves GET /v1/models and POST /v1/chat/completions.`);
      }
      const match = found.find(({ route }) => route.method === request.method);
      if (!match) {
        const allow = found.map(({ route }) => route.method).join(', ');
        const refusal = openAiErrorResponse(new AppError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${url.pathname}; use ${allow}.`));
        refusal.headers.set('Allow', allow);
        return refusal;
      }
      const viewer = await admitApiKey(admit, HOW);
      return match.route.serve(viewer, request, match.params!.slice(1), requestId);
    },
  };
}
