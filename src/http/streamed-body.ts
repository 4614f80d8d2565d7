// Streamed response bodies (a reply's server-sent events, on the REST API and
// the OpenAI-compatible one; an export's lines) that the node:http server
// writes straight to the socket. As a web ReadableStream, every chunk
// costs a pull, an enqueue, a read and the server adapter's pump reading it:
// promises and queue bookkeeping on the main thread for each token of every
// reply streaming, ahead of the token's one write. Written directly, a chunk is
// one res.write(). The body stays a ReadableStream for whoever reads the
// Response itself (`app.fetch`, a test): whichever reader comes first takes
// the chunks, and the other finds none.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A body read piece by piece: `next` gives the next piece of text, null once there is none. */
export type ChunkSource = {
  next(): Promise<string | null>;
  /** The reader went away before the end. */
  cancel(): Promise<void>;
  /** Written between pieces every `everyMs` while the body is open (a comment line that keeps proxies from closing it). */
  keepAlive?: { chunk: string; everyMs: number };
};

/** The headers of every server-sent-event stream: no caching or transforming proxy may hold its events back. */
export const EVENT_STREAM_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
};

/** A comment line every 15 s keeps proxies from closing an event stream that waits on a slow model; clients skip it. */
export const EVENT_STREAM_KEEP_ALIVE = { chunk: ': keep-alive\n\n', everyMs: 15_000 };

/** The source of each streamed body nobody has read yet, handed over once. */
const unread = new WeakMap<ReadableStream<Uint8Array>, () => ChunkSource | undefined>();

const encoder = new TextEncoder();

/**
 * `signal`: the request's. A client that leaves ends the source even if the body is never read or
 * cancelled, at once if it has already left.
 */
export function streamedBody(source: ChunkSource, signal?: AbortSignal): ReadableStream<Uint8Array> {
  if (signal?.aborted) void source.cancel();
  else signal?.addEventListener('abort', () => void source.cancel(), { once: true });
  let taken = false;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!taken) {
          // Read as a web stream from now on.
          taken = true;
          unread.delete(body);
          const { keepAlive } = source;
          if (keepAlive) heartbeat = setInterval(() => controller.enqueue(encoder.encode(keepAlive.chunk)), keepAlive.everyMs);
        }
        let chunk: string | null;
        try {
          chunk = await source.next();
        } catch (error) {
          // The stream errors; a heartbeat left running would enqueue into it and throw from a timer.
          clearInterval(heartbeat);
          throw error;
        }
        if (chunk !== null) return controller.enqueue(encoder.encode(chunk));
        clearInterval(heartbeat);
        controller.close();
      },
      async cancel() {
        clearInterval(heartbeat);
        await source.cancel();
      },
    },
    // Nothing is read ahead: the first pull is the first reader's, so a body written directly is never pulled.
    { highWaterMark: 0 },
  );
  unread.set(body, () => {
    if (taken || body.locked) return undefined;
    taken = true;
    unread.delete(body);
    return source;
  });
  return body;
}

/** Resolves once the response can take more, or is closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Sends `response` on `res` when its body is a streamed body nobody has read,
 * writing each piece as it comes; returns false (and does nothing) otherwise.
 */
export function sendStreamed(response: Response, req: IncomingMessage, res: ServerResponse, onError: (error: unknown) => void): boolean {
  const source = response.body ? unread.get(response.body)?.() : undefined;
  if (!source) return false;
  // The client left while the response was being prepared: 'close' has already been emitted.
  if (res.destroyed || res.closed) {
    void source.cancel();
    return true;
  }
  res.setHeaders(response.headers);
  res.writeHead(response.status, response.statusText);
  // As for any stream: no idle timeout while a model thinks, no Nagle delay before each token.
  req.socket.setTimeout(0);
  req.socket.setNoDelay(true);
  req.socket.setKeepAlive(true);
  let open = true;
  const { keepAlive } = source;
  const heartbeat = keepAlive ? setInterval(() => res.write(keepAlive.chunk), keepAlive.everyMs) : undefined;
  const stop = () => {
    open = false;
    clearInterval(heartbeat);
  };
  res.once('close', () => {
    if (!open) return;
    // The client went away before the end.
    stop();
    void source.cancel();
  });
  void (async () => {
    try {
      for (let chunk = await source.next(); chunk !== null && open; chunk = await source.next()) {
        if (!res.write(chunk) && open) await drained(res);
      }
      if (!open) return;
      stop();
      res.end();
    } catch (error) {
      // The status has been sent: the stream can only be cut short.
      stop();
      res.destroy();
      onError(error);
    }
  })();
  return true;
}
