// Server-sent events for the message endpoints (Accept: text/event-stream):
//   event: token  data: {"delta": "..."}           one per piece of the reply
//   event: done   data: <the JSON reply, envelope included>
//   event: error  data: <the error envelope>        when the reply fails after the stream began
// Every event has an id. A client that goes away ends the subscription, which
// stops the generation (its partial reply is stored as incomplete).
import type { ExecutionResult } from 'graphql';
import { envelopeForErrors, success } from './envelope.ts';

/** The format above, for the API reference. */
export const EVENT_STREAM_FORMAT =
  'Server-sent events, each with an `id:`. `event: token` with `{"delta": "..."}` for each piece of the reply as it is generated; ' +
  'then `event: done` whose data is exactly the JSON reply (envelope included); or, when the reply fails after the stream began, ' +
  '`event: error` whose data is the error envelope. Comment lines (`: keep-alive`) may come between events.';

/** Comment lines keep proxies from closing a stream that waits on a slow model. */
const HEARTBEAT_MS = 15_000;

type StreamResult = ExecutionResult<{ result: { __typename: string; delta?: string } & Record<string, unknown> }>;

const encoder = new TextEncoder();

function frame(id: number, event: string, data: unknown): Uint8Array {
  return encoder.encode(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/**
 * Turns a subscription's results into an SSE response. `first` is the result
 * already read (so that failures before the stream began could still be
 * answered with a plain JSON error).
 */
export function eventStreamResponse(
  first: StreamResult,
  rest: AsyncIterator<StreamResult>,
  done: { status: number; detail: string },
  /** The request's signal: a client that leaves ends the subscription even if the body is never cancelled. */
  signal?: AbortSignal,
): Response {
  let id = 1;
  let pending: StreamResult | null = first;
  let heartbeat: ReturnType<typeof setInterval> | undefined;

  const finish = async () => {
    clearInterval(heartbeat);
    await rest.return?.();
  };
  signal?.addEventListener('abort', () => void finish(), { once: true });

  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      heartbeat = setInterval(() => controller.enqueue(encoder.encode(': keep-alive\n\n')), HEARTBEAT_MS);
    },
    async pull(controller) {
      // Skips results that carry nothing for REST clients (the stored user message).
      for (;;) {
        const next = pending ? { value: pending, done: false } : await rest.next();
        pending = null;
        if (next.done) {
          clearInterval(heartbeat);
          controller.close();
          return;
        }
        const result = next.value;
        if (result.errors?.length) {
          controller.enqueue(frame(id++, 'error', envelopeForErrors(result.errors)));
          continue;
        }
        const event = result.data!.result;
        if (event.__typename === 'MessageDelta') {
          controller.enqueue(frame(id++, 'token', { delta: event.delta }));
          return;
        }
        if (event.__typename === 'MessageCompleted') {
          const { __typename, ...reply } = event;
          controller.enqueue(frame(id++, 'done', success(done.status, done.detail, reply)));
          return;
        }
      }
    },
    cancel: finish,
  });

  return new Response(body, {
    status: 200,
    headers: {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
    },
  });
}
