// Prometheus metrics (/metrics, prom-client): what an operator graphs and
// alerts on. Requests by route, method and status with their latency; the
// model's time to first token and tokens per second; open streams; the
// generation slots in use and waiting; ingestion jobs by state; requests
// refused by a rate limit, by budget. One registry per app, so that several
// apps in one process (tests) keep their own counts.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Plugin } from 'graphql-yoga';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { ChatDelta, ChatStream, Llm } from '../llm/ollama.ts';

export type MetricsSources = {
  prisma: PrismaClient;
  /** Replies being generated and waiting for a slot, on this instance. */
  generation?: () => { active: number; waiting: number };
};

export function createMetrics({ prisma, generation }: MetricsSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: 'gateway_http_requests_total',
    help: 'HTTP requests answered, by route (the REST path pattern, /graphql, ...), method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'gateway_http_request_duration_seconds',
    help: 'Time to the response headers (a stream counts until it starts), by route, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const firstToken = new Histogram({
    name: 'gateway_llm_time_to_first_token_seconds',
    help: 'From asking Ollama to its first piece of the reply, by model.',
    labelNames: ['model'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32],
    registers: [registry],
  });
  const tokensPerSecond = new Histogram({
    name: 'gateway_llm_tokens_per_second',
    help: 'Reply tokens per second from the first token to the last, by model.',
    labelNames: ['model'] as const,
    buckets: [1, 2, 5, 10, 20, 40, 80, 160, 320],
    registers: [registry],
  });
  const openStreams = new Gauge({
    name: 'gateway_open_streams',
    help: 'Replies streaming right now: subscriptions (server-sent events and graphql-ws alike) and streamed OpenAI chat completions.',
    registers: [registry],
  });
  new Gauge({
    name: 'gateway_generations',
    help: 'Replies being generated (state="active") and waiting for a slot (state="queued") on this instance.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const now = generation?.();
      if (!now) return;
      this.set({ state: 'active' }, now.active);
      this.set({ state: 'queued' }, now.waiting);
    },
  });
  new Gauge({
    name: 'gateway_ingestion_jobs',
    help: 'Knowledge-base jobs (ingestion, embedding) by state, in the database all instances share.',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const rows = await prisma.job.groupBy({ by: ['status'], _count: { _all: true } });
      this.reset();
      for (const state of ['queued', 'running', 'done', 'failed']) this.set({ state }, 0);
      for (const row of rows) this.set({ state: row.status }, row._count._all);
    },
  });
  const refusals = new Counter({
    name: 'gateway_rate_limit_refusals_total',
    help: 'Requests refused with 429, by the budget that ran out (org, widget, address, visitor, auth-failures).',
    labelNames: ['policy'] as const,
    registers: [registry],
  });

  return {
    registry,

    observeRequest(route: string, method: string, status: number, seconds: number) {
      const labels = { route, method, status: String(status) };
      requests.inc(labels);
      latency.observe(labels, seconds);
    },

    rateLimitRefused(policy: string) {
      refusals.inc({ policy });
    },

    /** Counts a stream that is not a subscription (a streamed OpenAI chat completion); call the returned function once it has ended. */
    streamOpened(): () => void {
      openStreams.inc();
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        openStreams.dec();
      };
    },

    /** Counts the subscriptions that stream (every surface's go through Yoga's subscribe). */
    openStreamsPlugin(): Plugin {
      return {
        onSubscribe: () => ({
          onSubscribeResult: ({ result }) => {
            if (!(Symbol.asyncIterator in (result as object))) return;
            openStreams.inc();
            let ended = false;
            return {
              onEnd: () => {
                if (ended) return;
                ended = true;
                openStreams.dec();
              },
            };
          },
        }),
      };
    },

    /** The same client, timing each reply: time to first token, then tokens per second. */
    meter(llm: Llm): Llm {
      return {
        ...llm,
        chatStream(request) {
          const stream = llm.chatStream(request);
          const asked = performance.now();
          let first = 0;
          void stream.outcome.then(
            (outcome) => {
              const seconds = (performance.now() - first) / 1000;
              if (first && seconds > 0 && outcome.completionTokens > 1) tokensPerSecond.observe({ model: request.model }, outcome.completionTokens / seconds);
            },
            () => {},
          );
          return {
            outcome: stream.outcome,
            [Symbol.asyncIterator]() {
              const deltas = stream[Symbol.asyncIterator]();
              const firstNext = async (): Promise<IteratorResult<ChatDelta>> => {
                const item = await deltas.next();
                if (!item.done && !first) {
                  first = performance.now();
                  firstToken.observe({ model: request.model }, (first - asked) / 1000);
                }
                return item;
              };
              return {
                // Only the first piece is timed: the pieces after it are the stream's own, with nothing added per token.
                next: () => (first ? deltas.next() : firstNext()),
                return: (value) => deltas.return?.(value) ?? Promise.resolve({ done: true, value: undefined }),
                throw: (error) => deltas.throw?.(error) ?? Promise.reject(error),
              };
            },
          } satisfies ChatStream;
        },
      };
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
