// A small HTTP client on node:http (keep-alive, no web-stream layers), so that
// the client adds as little as possible to what is measured. Only 127.0.0.1.
import { Agent, request } from 'node:http';
import { now } from './clock.ts';

export const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

export type Auth = { clientId: string; clientSecret: string };

export const authHeaders = (auth: Auth | null): Record<string, string> =>
  auth ? { 'X-API-Key': auth.clientId, 'X-API-Secret': auth.clientSecret } : {};

function assertLocal(url: URL) {
  if (url.hostname !== '127.0.0.1') throw new Error(`The benchmark only talks to 127.0.0.1, not ${url.host}.`);
}

export type HttpReply = { status: number; headers: Record<string, string | string[] | undefined>; text: string; body: any; doneAt: number };

/** Sends a request and reads the whole reply (parsed as JSON when it is JSON). */
export function http(method: string, url: string, options: { auth?: Auth | null; body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpReply> {
  const target = new URL(url);
  assertLocal(target);
  const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const headers: Record<string, string> = { ...authHeaders(options.auth ?? null), ...options.headers };
  if (payload !== undefined) {
    headers['Content-Type'] ??= 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(payload));
  }
  return new Promise((resolve, reject) => {
    const req = request(target, { method, headers, agent, timeout: options.timeoutMs ?? 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const doneAt = now();
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        if (/json/.test(String(res.headers['content-type']))) {
          try {
            body = JSON.parse(text);
          } catch {}
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body, doneAt });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export type SseEvent = { event: string; data: string; at: number };

/**
 * POSTs and reads the reply as server-sent events, stamping each event with
 * the time its bytes arrived. Resolves with the status and every event once
 * the stream ends.
 */
export function postEventStream(url: string, auth: Auth, body: unknown, onEvent?: (event: SseEvent) => void, timeoutMs = 60_000): Promise<{ status: number; events: SseEvent[]; text: string }> {
  const target = new URL(url);
  assertLocal(target);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'POST',
        agent,
        timeout: timeoutMs,
        headers: {
          ...authHeaders(auth),
          'Content-Type': 'application/json',
          'Content-Length': String(Buffer.byteLength(payload)),
          Accept: 'text/event-stream',
        },
      },
      (res) => {
        const events: SseEvent[] = [];
        let buffer = '';
        let raw = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const at = now();
          if (res.statusCode !== 200) {
            raw += chunk;
            return;
          }
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const field = colon === -1 ? line : line.slice(0, colon);
              const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (field === 'event') event = value;
              else if (field === 'data') data.push(value);
            }
            if (data.length === 0) continue;
            const parsed = { event, data: data.join('\n'), at };
            events.push(parsed);
            onEvent?.(parsed);
          }
        });
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, events, text: raw }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${url} (event stream) timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}
