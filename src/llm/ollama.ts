// Our only door to Ollama. Everything above this module sees plain deltas, token counts and one
// error class whose message tells an operator what to do; the `ollama` client's own shapes and
// failure modes stay in here.
import { STATUS_CODES } from 'node:http';
import { Ollama } from 'ollama';
import type { AbortableAsyncIterator, ChatResponse } from 'ollama';
import { Agent, EnvHttpProxyAgent } from 'undici';
import type { Dispatcher } from 'undici';

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
  const client = new Ollama({ host, fetch: streamingFetch(signal) });
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

// Streamed replies skip the built-in fetch: per chunk it runs undici's fetch machinery and a web
// ReadableStream before the client sees a byte, a large share of the main thread at many
// concurrent replies. undici's dispatch() hands over each chunk from the HTTP parser and the
// client reads them through the few members of a Response it uses (see `streamingResponse`).
// Its own connection pool, kept alive like fetch's; idle sockets do not hold the process open.
// Through HTTP_PROXY / HTTPS_PROXY (minus NO_PROXY) when NODE_USE_ENV_PROXY asks the built-in
// fetch to use them, so that streams take the same way to Ollama as its other requests.
const streamingDispatcher = process.env.NODE_USE_ENV_PROXY === '1' ? new EnvHttpProxyAgent() : new Agent();

/** At most this much of a reply waits unread before the socket is paused. */
const maxUnreadBytes = 64 * 1024;

/**
 * The `fetch` the client streams a chat through. Aborting `signal`, or the client's own signal
 * (its abort() after a `break`), closes the request whether it is still waiting for headers or
 * mid-reply; pending reads then reject with the abort's reason. Other failures reject like
 * fetch's: a TypeError ('fetch failed' before the response, 'terminated' during it) whose
 * `cause` is undici's error.
 */
function streamingFetch(signal: AbortSignal | undefined): typeof fetch {
  return ((input: string, init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal | null } = {}) => {
    const signals = [signal, init.signal].filter((candidate) => candidate != null);
    return new Promise<Response>((resolve, reject) => {
      const body = new StreamedBody();
      let controller: Dispatcher.DispatchController | undefined;
      let responded = false;
      let failure: Error | undefined;
      const fail = (error: Error) => {
        if (failure) return;
        failure = error;
        for (const candidate of signals) candidate.removeEventListener('abort', onAbort);
        reject(failure);
        body.fail(failure);
      };
      const onAbort = function (this: AbortSignal) {
        const reason = this.reason instanceof Error ? this.reason : new DOMException('This operation was aborted', 'AbortError');
        controller?.abort(reason);
        fail(reason);
      };
      for (const candidate of signals) {
        if (candidate.aborted) return onAbort.call(candidate);
        candidate.addEventListener('abort', onAbort, { once: true });
      }
      body.onDrain = () => {
        if (controller?.paused) controller.resume();
      };
      const url = new URL(input);
      const options = { origin: url.origin, path: url.pathname + url.search, method: init.method ?? 'GET', headers: init.headers, body: init.body };
      try {
        streamingDispatcher.dispatch(options, {
          onRequestStart(started) {
            controller = started;
            // Aborted before a connection was free: abort now, before anything is sent.
            if (failure) started.abort(failure);
          },
          onResponseStart(_, status, headers, statusText) {
            responded = true;
            resolve(streamingResponse(status, statusText || STATUS_CODES[status] || '', headers, body));
          },
          onResponseData(data, chunk) {
            if (body.push(chunk) > maxUnreadBytes) data.pause();
          },
          onResponseEnd() {
            for (const candidate of signals) candidate.removeEventListener('abort', onAbort);
            body.end();
          },
          onResponseError(_, error) {
            // Wrapped as fetch wraps them, so toLlmError tells the cases apart as before
            // (an HTTP parser error, which has no code, is a network error too).
            fail(new TypeError(responded ? 'terminated' : 'fetch failed', { cause: error }));
          },
        });
      } catch (error) {
        fail(new TypeError('fetch failed', { cause: error }));
      }
    });
  }) as typeof fetch;
}

/**
 * The members of a Response the client touches: `ok`, `status` and `body.getReader()` (read and
 * releaseLock) on a stream; `statusText`, `headers.get`, `json()` and `text()` for an error
 * status (checkOk). Nothing else of Response is implemented.
 */
function streamingResponse(status: number, statusText: string, headers: Record<string, string | string[] | undefined>, body: StreamedBody): Response {
  const text = async () => {
    const chunks: Uint8Array[] = [];
    for (let read = await body.read(); !read.done; read = await body.read()) chunks.push(read.value);
    return Buffer.concat(chunks).toString('utf8');
  };
  const response = {
    ok: status >= 200 && status < 300,
    status,
    statusText,
    headers: {
      get(name: string) {
        const value = headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
    },
    body: { getReader: () => ({ read: () => body.read(), releaseLock() {} }) },
    text,
    json: async () => JSON.parse(await text()) as unknown,
  };
  return response as unknown as Response;
}

/** The reply's bytes as they arrive; a read takes everything unread so far, as one chunk. */
class StreamedBody {
  private chunks: Buffer[] = [];
  private unread = 0;
  private ended = false;
  private failure: Error | undefined;
  private waiting: { resolve: (result: ReadableStreamReadResult<Uint8Array>) => void; reject: (error: Error) => void } | undefined;
  onDrain: () => void = () => {};

  /** Returns how many bytes now wait unread. */
  push(chunk: Buffer): number {
    this.chunks.push(chunk);
    this.unread += chunk.length;
    this.wake();
    return this.unread;
  }

  end() {
    this.ended = true;
    this.wake();
  }

  fail(error: Error) {
    this.failure ??= error;
    this.wake();
  }

  read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    if (this.chunks.length > 0) return Promise.resolve({ done: false, value: this.take() });
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  private wake() {
    const waiting = this.waiting;
    if (!waiting || (this.chunks.length === 0 && !this.failure && !this.ended)) return;
    // Cleared first: take() resumes the socket, which may push more before this returns.
    this.waiting = undefined;
    if (this.chunks.length > 0) waiting.resolve({ done: false, value: this.take() });
    else if (this.failure) waiting.reject(this.failure);
    else waiting.resolve({ done: true, value: undefined });
  }

  private take(): Buffer {
    const chunk = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.unread);
    this.chunks = [];
    this.unread = 0;
    this.onDrain();
    return chunk;
  }
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
