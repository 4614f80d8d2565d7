// Our only door to Ollama. Everything above this module sees plain deltas, token counts and one
// error class whose message tells an operator what to do; the `ollama` client's own shapes and
// failure modes stay in here.
import { Ollama } from 'ollama';
import type { AbortableAsyncIterator, ChatResponse } from 'ollama';

export type ChatMessage = { role: 'system' | 'user' | 'assistant'; content: string };

export type ChatRequest = {
  model: string;
  messages: ChatMessage[];
  /** Sent as `options.temperature`; omitted, the model's own default applies. */
  temperature?: number;
  /** Sent as `options.num_predict`: Ollama stops after this many tokens and the outcome says 'length'. */
  maxTokens?: number;
  /**
   * Sent as `options.num_ctx`. Ollama otherwise runs with its own smaller window and silently
   * drops the start of a longer prompt, so callers that trim history to a window must say which.
   */
  contextLength?: number;
  /**
   * Aborting closes the HTTP request to Ollama, which stops generating. It is not an error: the
   * iteration simply ends and `outcome` resolves with doneReason 'aborted'.
   */
  signal?: AbortSignal;
};

export type ChatDelta = { delta: string };

/** 'stop' and 'length' come from Ollama; 'aborted' means our signal or an early `break` ended the reply. */
export type DoneReason = 'stop' | 'length' | 'aborted' | (string & {});

export type ChatOutcome = {
  /** Ollama's prompt_eval_count; null when it did not report one (always the case for an aborted reply). */
  promptTokens: number | null;
  /** Ollama's eval_count; for an aborted reply, the number of deltas received. */
  completionTokens: number;
  doneReason: DoneReason;
};

/**
 * The reply, delta by delta. The request is sent when iteration starts; a stream can be iterated
 * once. Breaking out of the loop closes the connection to Ollama.
 */
export type ChatStream = AsyncIterable<ChatDelta> & {
  /**
   * Settles when iteration ends: resolves with the counts, or rejects with the same LlmError the
   * loop threw. Left unawaited it never causes an unhandled rejection.
   */
  readonly outcome: Promise<ChatOutcome>;
};

export type ModelInfo = {
  /** The context window the model was trained with (`<architecture>.context_length`), or null if Ollama does not say. */
  contextLength: number | null;
};

export type Llm = {
  chatStream(request: ChatRequest): ChatStream;
  /** Cached per model once it succeeds; a failure is not cached, so a later `ollama pull` is picked up. */
  modelInfo(model: string): Promise<ModelInfo>;
  /** One vector per text, in the order given. */
  embed(model: string, texts: string[]): Promise<number[][]>;
  /** The models Ollama has pulled, as it names them (`llama3.2:latest`); an LlmError when it cannot be reached. */
  listModels(): Promise<string[]>;
};

export type LlmErrorKind = 'unreachable' | 'model_missing' | 'interrupted' | 'failed';

/** Every failure of this module. `message` is written for the person running the gateway. */
export class LlmError extends Error {
  override name = 'LlmError';
  readonly kind: LlmErrorKind;
  readonly host: string;
  readonly model: string;

  constructor(kind: LlmErrorKind, message: string, context: { host: string; model: string; cause?: unknown }) {
    super(message, { cause: context.cause });
    this.kind = kind;
    this.host = context.host;
    this.model = context.model;
  }
}

/** `host` is Ollama's base URL, e.g. http://127.0.0.1:11434. An unparsable host throws here, at start-up. */
export function createLlm({ host }: { host: string }): Llm {
  const client = new Ollama({ host });
  const infoByModel = new Map<string, Promise<ModelInfo>>();

  return {
    chatStream: (request) => createChatStream(host, request),

    modelInfo(model) {
      let info = infoByModel.get(model);
      if (!info) {
        info = client.show({ model }).then(
          (response) => ({ contextLength: contextLengthOf(response.model_info) }),
          (error: unknown) => {
            infoByModel.delete(model);
            throw toLlmError(error, { host, model, during: 'request' });
          },
        );
        infoByModel.set(model, info);
      }
      return info;
    },

    async listModels() {
      try {
        return (await client.list()).models.map((model) => model.name);
      } catch (error) {
        throw toLlmError(error, { host, model: '', during: 'request' });
      }
    },

    async embed(model, texts) {
      if (texts.length === 0) return [];
      // Embedding is idempotent, so a connection that dropped before the answer (a kept-alive
      // socket the server closed while it sat idle) is worth one more try.
      for (let attempt = 1; ; attempt++) {
        try {
          const { embeddings } = await client.embed({ model, input: texts });
          return embeddings;
        } catch (error) {
          const failure = toLlmError(error, { host, model, during: 'request' });
          if (failure.kind !== 'interrupted' || attempt === 2) throw failure;
        }
      }
    },
  };
}

function createChatStream(host: string, request: ChatRequest): ChatStream {
  const { promise, resolve, reject } = Promise.withResolvers<ChatOutcome>();
  // Whoever iterates already receives the error from the loop; the promise only mirrors it.
  promise.catch(() => {});
  let iterated = false;
  return {
    outcome: promise,
    [Symbol.asyncIterator]() {
      if (iterated) throw new Error('A chat stream can be iterated only once.');
      iterated = true;
      return streamChat(host, request, { resolve, reject });
    },
  };
}

type Settle = { resolve: (outcome: ChatOutcome) => void; reject: (error: LlmError) => void };

async function* streamChat(host: string, request: ChatRequest, settle: Settle): AsyncGenerator<ChatDelta> {
  const { model, signal } = request;
  const aborted = (deltas: number): ChatOutcome => ({ promptTokens: null, completionTokens: deltas, doneReason: 'aborted' });
  if (signal?.aborted) {
    settle.resolve(aborted(0));
    return;
  }

  // A client per reply: the shared client's abort() would end every stream at once, and it keeps
  // a list of open streams that only a completed reply leaves. The signal rides on fetch because
  // the client takes none, and only fetch can also cancel a request still waiting for headers.
  const client = new Ollama({ host, fetch: signal ? fetchWithSignal(signal) : undefined });
  let stream: AbortableAsyncIterator<ChatResponse>;
  try {
    stream = await client.chat({
      model,
      messages: request.messages,
      stream: true,
      options: { temperature: request.temperature, num_predict: request.maxTokens, num_ctx: request.contextLength },
    });
  } catch (error) {
    if (signal?.aborted) {
      settle.resolve(aborted(0));
      return;
    }
    const failure = toLlmError(error, { host, model, during: 'request' });
    settle.reject(failure);
    throw failure;
  }

  let deltas = 0;
  let finished = false;
  try {
    for await (const part of stream) {
      const content = part.message?.content ?? '';
      if (content !== '') {
        deltas++;
        yield { delta: content };
      }
      if (part.done) {
        finished = true;
        settle.resolve({
          promptTokens: part.prompt_eval_count ?? null,
          completionTokens: part.eval_count ?? deltas,
          doneReason: part.done_reason || 'stop',
        });
      }
    }
  } catch (error) {
    if (signal?.aborted) {
      settle.resolve(aborted(deltas));
      return;
    }
    const failure = toLlmError(error, { host, model, during: 'reply' });
    settle.reject(failure);
    throw failure;
  } finally {
    if (!finished) {
      // Reached on `break` too: without this the connection stays open and Ollama keeps generating.
      stream.abort();
      settle.resolve(aborted(deltas));
    }
  }
}

function fetchWithSignal(signal: AbortSignal): typeof fetch {
  return (input, init) => fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal });
}

function contextLengthOf(modelInfo: unknown): number | null {
  if (typeof modelInfo !== 'object' || modelInfo === null) return null;
  const info = modelInfo as Record<string, unknown>;
  const architecture = info['general.architecture'];
  const value =
    (typeof architecture === 'string' ? info[`${architecture}.context_length`] : undefined) ??
    Object.entries(info).find(([key]) => key.endsWith('.context_length'))?.[1];
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : null;
}

// undici's codes for a connection that was never made; anything else broke an open connection.
const notConnected = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);
const droppedConnection = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

type ErrorContext = { host: string; model: string; during: 'request' | 'reply' };

function toLlmError(error: unknown, { host, model, during }: ErrorContext): LlmError {
  if (error instanceof LlmError) return error;
  const context = { host, model, cause: error };
  const detail = error instanceof Error ? error.message : String(error);

  // The client's ResponseError is not exported; it is the only error carrying an HTTP status.
  const status = (error as { status_code?: unknown } | null)?.status_code;
  if (typeof status === 'number') {
    if (status === 404 && /model/i.test(detail)) {
      return new LlmError('model_missing', `Ollama at ${host} does not have the model "${model}". Download it with \`ollama pull ${model}\`, or configure a model it has.`, context);
    }
    return new LlmError('failed', `Ollama at ${host} answered HTTP ${status} for model "${model}": ${detail}`, context);
  }

  const code = codeOf(error);
  const isNetwork = error instanceof TypeError || code !== undefined;
  if (during === 'request' && isNetwork && !droppedConnection.has(code ?? '')) {
    return new LlmError('unreachable', `Cannot reach Ollama at ${host} (${code ?? rootMessage(error)}). Start it with \`ollama serve\`, or set OLLAMA_HOST to the address where it runs.`, context);
  }
  // The client throws this when the body ends cleanly but without the final `done` line.
  if (isNetwork || detail.startsWith('Did not receive done')) {
    const when = during === 'reply' ? 'stopped mid-reply' : 'closed the connection before replying';
    return new LlmError('interrupted', `Ollama at ${host} ${when} (model "${model}"): the connection dropped. Check that it is still running and look at its log; it may have run out of memory.`, context);
  }
  // An `{"error": ...}` line inside the stream: the server is up but the model failed.
  return new LlmError('failed', `Ollama at ${host} failed while running model "${model}": ${detail}`, context);
}

// undici wraps the useful part ("connect ECONNREFUSED ...", "bad port") in `cause`.
function rootMessage(error: unknown): string {
  let current = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}

function codeOf(error: unknown): string | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
