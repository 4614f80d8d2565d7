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
import { EVENT_STREAM_HEADERS, EVENT_STREAM_KEEP_ALIVE, streamedBody } from '../http/streamed-body.ts';
import { envelopeForErrors, failure, success } from './envelope.ts';

/** The format above, for the API reference. */
export const EVENT_STREAM_FORMAT =
  'Server-sent events, each with an `id:`. `event: token` with `{"delta": "..."}` for each piece of the reply as it is generated; ' +
  'then `event: done` whose data is exactly the JSON reply (envelope included); or, when the reply fails after the stream began, ' +
  '`event: error` whose data is the error envelope. Comment lines (`: keep-alive`) may come between events.';

type StreamResult = ExecutionResult<{ result: { __typename: string; event_id?: number; delta?: string } & Record<string, unknown> }>;

const frame = (id: number, event: string, data: unknown) => `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

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
  const framed = (event: string, data: unknown, id?: number) => {
    lastId = id ?? lastId + 1;
    return frame(lastId, event, data);
  };
  const finish = async () => void (await rest.return?.());

  /** The next event's frame, or null at the end; results that carry nothing for REST clients (the stored user message) are skipped. */
  async function nextFrame(): Promise<string | null> {
    for (;;) {
      const held = pending.shift();
      const item = held ? { value: held, done: false } : await rest.next();
      if (item.done) return null;
      const result = item.value;
      if (result.errors?.length) return framed('error', envelopeForErrors(result.errors));
      const { __typename, event_id: id, ...event } = result.data!.result;
      switch (__typename) {
        case 'MessageStarted':
          return framed('start', event, id);
        case 'MessageDelta':
          return framed('token', { delta: event.delta }, id);
        case 'MessageCompleted':
          return framed('done', success(done.status, done.detail, event), id);
        case 'MessageFailed':
          return framed('error', failure(statusOf(event.code as string), event.detail as string), id);
      }
    }
  }

  const body = streamedBody({ next: nextFrame, cancel: finish, keepAlive: EVENT_STREAM_KEEP_ALIVE }, signal);
  return new Response(body, { status: 200, headers: EVENT_STREAM_HEADERS });
}
