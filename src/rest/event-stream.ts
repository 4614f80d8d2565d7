// Server-sent events for the message endpoints (Accept: text/event-stream):
//   event: start  data: {"user_message": {...}, "assistant_message": {...}}  the reply's id, status streaming
//   event: token  data: {"delta": "..."}           one per piece of the reply
//   event: done   data: <the JSON reply, envelope included>
//   event: error  data: <the error envelope>        when the reply fails after the stream began
// Every event has an id: the reply's own event numbers (1 for start, then one
// more per event), so that a client resuming with Last-Event-ID gets what
// followed. A client that goes away ends the subscription, which stops the
// generation of a reply it sent (its partial reply is stored as incomplete).
import type { ExecutionResult } from 'graphql';
import { statusOf } from '../errors.ts';
import { envelopeForErrors, failure, success } from './envelope.ts';

/** The format above, for the API reference. */
export const EVENT_STREAM_FORMAT =
  'Server-sent events, each with an `id:`. `event: token` with `{"delta": "..."}` for each piece of the reply as it is generated; ' +
  'then `event: done` whose data is exactly the JSON reply (envelope included); or, when the reply fails after the stream began, ' +
  '`event: error` whose data is the error envelope. Comment lines (`: keep-alive`) may come between events.';

/** Comment lines keep proxies from closing a stream that waits on a slow model. */
const HEARTBEAT_MS = 15_000;

type StreamResult = ExecutionResult<{ result: { __typename: string; event_id?: number; delta?: string } & Record<string, unknown> }>;

const encoder = new TextEncoder();

function frame(id: number, event: string, data: unknown): Uint8Array {
  return encoder.encode(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/**
 * Turns a subscription's results into an SSE response. `first` are the
 * results already read (so that failures before the stream began could still
 * be answered with a plain JSON error).
 */
export function eventStreamResponse(
  first: StreamResult[],
  rest: AsyncIterator<StreamResult>,
  done: { status: number; detail: string },
  /** The request's signal: a client that leaves ends the subscription even if the body is never cancelled. */
  signal?: AbortSignal,
): Response {
  /** The last id sent; an event without a number of its own (an error) takes the next one. */
  let lastId = 0;
  const pending = [...first];
  const send = (controller: ReadableStreamDefaultController<Uint8Array>, event: string, data: unknown, id?: number) => {
    lastId = id ?? lastId + 1;
    controller.enqueue(frame(lastId, event, data));
  };
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
        const held = pending.shift();
        const next = held ? { value: held, done: false } : await rest.next();
        if (next.done) {
          clearInterval(heartbeat);
          controller.close();
          return;
        }
        const result = next.value;
        if (result.errors?.length) {
          send(controller, 'error', envelopeForErrors(result.errors));
          continue;
        }
        const { __typename, event_id: id, ...event } = result.data!.result;
        switch (__typename) {
          case 'MessageStarted':
            return send(controller, 'start', event, id);
          case 'MessageDelta':
            return send(controller, 'token', { delta: event.delta }, id);
          case 'MessageCompleted':
            return send(controller, 'done', success(done.status, done.detail, event), id);
          case 'MessageFailed': {
            const code = event.code as string;
            return send(controller, 'error', failure(statusOf(code), event.detail as string), id);
          }
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
