// A stand-in for an Ollama server that speaks its HTTP protocol (NDJSON chat streams, embed, tags,
// show, the 404 for a model that was never pulled), so the real `ollama` client and our own code
// run unchanged against it. It also records what arrived and when each chunk left, which the
// streaming benchmark needs to tell the gateway's latency apart from the model's.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type DoubleMessage = { role: string; content: string };

/** The request a `reply` function sees; /api/generate's `system` and `prompt` arrive as messages. */
export type ReplyRequest = { model: string; messages: DoubleMessage[]; options: Record<string, unknown> };

export type OllamaDoubleBehavior = {
  /** Models the double serves; a name without a tag means `:latest`, as in Ollama. Default `['llama3.2']`. */
  models: string[];
  /** The whole assistant reply. Default: `You said: <content of the last user message>`. */
  reply: string | ((request: ReplyRequest) => string);
  /** Pause before every streamed line after the first. Default 0. */
  tokenDelayMs: number;
  /**
   * Destroy the socket after this many content chunks, before the `done` line (Ollama dying).
   * The drop comes `tokenDelayMs` (at least 25 ms) after the last chunk, so the client has read
   * what was sent: a stream that errors discards chunks it has not handed out yet. Default null: never.
   */
  failAfterTokens: number | null;
  /** Reported by /api/show as `llama.context_length`. Default 8192. */
  contextLength: number;
  /** Length of every /api/embed vector. Default 64. */
  embeddingDimensions: number;
  /** Pause before answering /api/embed (a model busy embedding a large file). Default 0. */
  embedDelayMs: number;
};

/** When a streamed line was handed to the socket, on both clocks. */
export type ChunkTiming = { content: string; perfNow: number; epochMs: number };

export type RecordedRequest = {
  method: string;
  path: string;
  /** The parsed JSON body; null when there was none. */
  body: unknown;
  receivedAt: { perfNow: number; epochMs: number };
  /** Content chunks of /api/chat and /api/generate streams, in the order they were written. */
  chunks: ChunkTiming[];
  /** The client closed the connection before the reply's last line (never set when the double itself dropped it). */
  aborted: boolean;
  /** Resolves once the response has ended or the connection has closed; `aborted` is final from then on. */
  settled: Promise<void>;
};

export type OllamaDouble = {
  /** Base URL to hand to the `ollama` client as `host`, e.g. `http://127.0.0.1:41234`. */
  url: string;
  requests: RecordedRequest[];
  /** Changes behaviour for requests that arrive from now on; omitted fields keep their value. */
  setBehavior(partial: Partial<OllamaDoubleBehavior>): void;
  close(): Promise<void>;
};

const defaults: OllamaDoubleBehavior = {
  models: ['llama3.2'],
  reply: (request) => `You said: ${request.messages.findLast((m) => m.role === 'user')?.content ?? ''}`,
  tokenDelayMs: 0,
  failAfterTokens: null,
  contextLength: 8192,
  embeddingDimensions: 64,
  embedDelayMs: 0,
};

export async function startOllamaDouble(options: Partial<OllamaDoubleBehavior> = {}): Promise<OllamaDouble> {
  let behavior = merge(defaults, options);
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    handle(req, res, behavior, requests).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: String(error) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setBehavior(partial) {
      behavior = merge(behavior, partial);
    },
    async close() {
      // The client keeps connections alive; without this, close() would wait for them to idle out.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function merge(base: OllamaDoubleBehavior, partial: Partial<OllamaDoubleBehavior>): OllamaDoubleBehavior {
  const defined = Object.entries(partial).filter(([, value]) => value !== undefined);
  return { ...base, ...Object.fromEntries(defined) };
}

type Exchange = {
  res: ServerResponse;
  record: RecordedRequest;
  behavior: OllamaDoubleBehavior;
  startedNs: bigint;
  /** The connection is gone, whoever closed it. */
  closed: () => boolean;
  /** Close the connection without an answer, the way a crashing server does. */
  drop: () => void;
};

const routes: Record<string, Record<string, (body: Body, exchange: Exchange) => Promise<void> | void>> = {
  '/': { GET: (_, { res }) => text(res, 200, 'Ollama is running') },
  '/api/version': { GET: (_, { res }) => json(res, 200, { version: '0.12.0' }) },
  '/api/tags': { GET: (_, { res, behavior }) => json(res, 200, { models: behavior.models.map(describeModel) }) },
  '/api/show': { POST: (body, exchange) => withModel(body, exchange, () => show(exchange)) },
  '/api/embed': { POST: (body, exchange) => withModel(body, exchange, (model) => embed(body, model, exchange)) },
  '/api/chat': { POST: (body, exchange) => withModel(body, exchange, (model) => chat(body, model, exchange)) },
  '/api/generate': { POST: (body, exchange) => withModel(body, exchange, (model) => generate(body, model, exchange)) },
};

type Body = Record<string, unknown>;

async function handle(req: IncomingMessage, res: ServerResponse, behavior: OllamaDoubleBehavior, requests: RecordedRequest[]) {
  const startedNs = process.hrtime.bigint();
  const path = new URL(req.url ?? '/', 'http://double').pathname;
  let settle!: () => void;
  const record: RecordedRequest = {
    method: req.method ?? 'GET',
    path,
    body: null,
    receivedAt: { perfNow: performance.now(), epochMs: Date.now() },
    chunks: [],
    aborted: false,
    settled: new Promise<void>((resolve) => (settle = resolve)),
  };
  requests.push(record);

  let closed = false;
  let droppedByUs = false;
  res.on('close', () => {
    closed = true;
    if (!res.writableFinished && !droppedByUs) record.aborted = true;
    settle();
  });
  const exchange: Exchange = {
    res,
    record,
    behavior,
    startedNs,
    closed: () => closed,
    drop: () => {
      droppedByUs = true;
      res.destroy();
    },
  };

  const raw = Buffer.concat(await req.toArray()).toString('utf8');
  let body: Body = {};
  if (raw.trim() !== '') {
    try {
      body = JSON.parse(raw) as Body;
      record.body = body;
    } catch (error) {
      return json(res, 400, { error: (error as Error).message });
    }
  }

  const route = routes[path];
  if (!route) return text(res, 404, '404 page not found');
  const handler = route[record.method] ?? (record.method === 'HEAD' ? route.GET : undefined);
  if (!handler) return text(res, 405, '405 method not allowed');
  await handler(body, exchange);
}

async function withModel(body: Body, exchange: Exchange, next: (model: string) => Promise<void> | void) {
  // /api/show still accepts the older `name` field.
  const model = typeof body.model === 'string' ? body.model : typeof body.name === 'string' ? body.name : '';
  if (model === '') return json(exchange.res, 400, { error: 'model is required' });
  if (!exchange.behavior.models.some((served) => withTag(served) === withTag(model))) {
    return json(exchange.res, 404, { error: `model "${model}" not found, try pulling it first` });
  }
  await next(model);
}

function withTag(name: string): string {
  return /:[^/]+$/.test(name) ? name : `${name}:latest`;
}

function describeModel(name: string) {
  return {
    name: withTag(name),
    model: withTag(name),
    modified_at: new Date(0).toISOString(),
    size: 2_019_393_189,
    digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72',
    details: modelDetails,
  };
}

const modelDetails = {
  parent_model: '',
  format: 'gguf',
  family: 'llama',
  families: ['llama'],
  parameter_size: '3.2B',
  quantization_level: 'Q4_K_M',
};

function show({ res, behavior }: Exchange) {
  json(res, 200, {
    license: '',
    modelfile: '# Modelfile served by the Ollama test double',
    parameters: '',
    template: '{{ .Prompt }}',
    details: modelDetails,
    model_info: {
      'general.architecture': 'llama',
      'general.parameter_count': 3_212_749_888,
      'llama.context_length': behavior.contextLength,
      'llama.embedding_length': behavior.embeddingDimensions,
    },
    capabilities: ['completion'],
    modified_at: new Date(0).toISOString(),
  });
}

async function embed(body: Body, model: string, { res, behavior, startedNs, closed }: Exchange) {
  const input = typeof body.input === 'string' ? [body.input] : body.input;
  if (!Array.isArray(input) || input.some((item) => typeof item !== 'string')) {
    return json(res, 400, { error: 'invalid input type' });
  }
  const texts = input as string[];
  if (behavior.embedDelayMs > 0) await sleep(behavior.embedDelayMs);
  if (closed()) return;
  json(res, 200, {
    model,
    embeddings: texts.map((item) => hashEmbedding(item, behavior.embeddingDimensions)),
    total_duration: Number(process.hrtime.bigint() - startedNs),
    load_duration: 0,
    prompt_eval_count: texts.reduce((sum, item) => sum + estimateTokens(item), 0),
  });
}

/**
 * Bag-of-words feature hashing with signed buckets: texts sharing words point the same way,
 * unrelated texts come out near orthogonal. Deterministic, so retrieval tests are repeatable.
 */
export function hashEmbedding(text: string, dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    // A crude plural fold so "refunds" finds "refund"; real embedders do far better.
    const stem = word.length > 3 && word.endsWith('s') && !word.endsWith('ss') ? word.slice(0, -1) : word;
    const hash = fnv1a(stem);
    vector[(hash >>> 1) % dimensions] += hash & 1 ? 1 : -1;
  }
  const norm = Math.hypot(...vector);
  return norm === 0 ? vector : vector.map((value) => value / norm);
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

type Shape = {
  chunk: (content: string) => Body;
  final: (content: string) => Body;
};

function chat(body: Body, model: string, exchange: Exchange) {
  const messages = Array.isArray(body.messages) ? (body.messages as DoubleMessage[]) : [];
  return respond(body, { model, messages, options: options(body) }, exchange, {
    chunk: (content) => ({ model, created_at: now(), message: { role: 'assistant', content }, done: false }),
    final: (content) => ({ model, created_at: now(), message: { role: 'assistant', content }, done: true }),
  });
}

function generate(body: Body, model: string, exchange: Exchange) {
  const prompt = typeof body.prompt === 'string' ? body.prompt : '';
  const system = typeof body.system === 'string' ? [{ role: 'system', content: body.system }] : [];
  const messages: DoubleMessage[] = prompt === '' ? [] : [...system, { role: 'user', content: prompt }];
  return respond(body, { model, messages, options: options(body) }, exchange, {
    chunk: (content) => ({ model, created_at: now(), response: content, done: false }),
    final: (content) => ({ model, created_at: now(), response: content, done: true, context: [1, 2, 3] }),
  });
}

function options(body: Body): Record<string, unknown> {
  return typeof body.options === 'object' && body.options !== null ? (body.options as Record<string, unknown>) : {};
}

async function respond(body: Body, request: ReplyRequest, exchange: Exchange, shape: Shape) {
  const { res, behavior, record } = exchange;
  // Ollama answers a request with nothing to say by loading the model and saying so.
  if (request.messages.length === 0) {
    return json(res, 200, { ...shape.final(''), done_reason: 'load' });
  }
  const reply = typeof behavior.reply === 'function' ? behavior.reply(request) : behavior.reply;
  const tokens = splitTokens(reply);
  const limit = Number(request.options.num_predict);
  const truncated = Number.isInteger(limit) && limit > 0 && tokens.length > limit;
  const emitted = truncated ? tokens.slice(0, limit) : tokens;
  const promptChars = request.messages.reduce((sum, m) => sum + String(m.content ?? '').length, 0);
  const stats = (firstTokenNs: bigint) => {
    const endNs = process.hrtime.bigint();
    return {
      done_reason: truncated ? 'length' : 'stop',
      total_duration: Number(endNs - exchange.startedNs),
      load_duration: 0,
      prompt_eval_count: Math.max(1, Math.ceil(promptChars / 4)),
      prompt_eval_duration: Number(firstTokenNs - exchange.startedNs),
      eval_count: emitted.length,
      eval_duration: Number(endNs - firstTokenNs),
    };
  };

  if (body.stream === false) {
    if (behavior.failAfterTokens !== null) return exchange.drop();
    return json(res, 200, { ...shape.final(emitted.join('')), ...stats(process.hrtime.bigint()) });
  }

  res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
  res.flushHeaders();
  let firstTokenNs = process.hrtime.bigint();
  for (let i = 0; i <= emitted.length; i++) {
    if (i === behavior.failAfterTokens || (i === emitted.length && behavior.failAfterTokens !== null)) {
      if (i > 0) await sleep(Math.max(behavior.tokenDelayMs, 25));
      return exchange.drop();
    }
    if (i > 0 && behavior.tokenDelayMs > 0) await sleep(behavior.tokenDelayMs);
    if (exchange.closed()) return;
    if (i === emitted.length) break;
    if (i === 0) firstTokenNs = process.hrtime.bigint();
    record.chunks.push({ content: emitted[i], perfNow: performance.now(), epochMs: Date.now() });
    res.write(`${JSON.stringify(shape.chunk(emitted[i]))}\n`);
  }
  res.end(`${JSON.stringify({ ...shape.final(''), ...stats(firstTokenNs) })}\n`);
}

/** Word-ish tokens that keep their leading whitespace, so joining them gives the reply back exactly. */
function splitTokens(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

function now(): string {
  return new Date().toISOString();
}

function json(res: ServerResponse, status: number, value: unknown) {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(value));
}

function text(res: ServerResponse, status: number, value: string) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(value);
}
