// A real HTTP server on loopback that receives webhook deliveries, records each
// one (headers and raw body, as a receiver verifies them) and answers with the
// statuses a test scripts (2xx unless told otherwise).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceivedDelivery = { headers: Record<string, string>; body: string; at: number; answered: number };

export type WebhookReceiver = {
  url: string;
  received: ReceivedDelivery[];
  /** Statuses for the next deliveries, in order; after them, 204. */
  answerWith(...statuses: number[]): void;
  /** Resolves once `count` deliveries (answered whatever status) arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedDelivery[]>;
  close(): Promise<void>;
};

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedDelivery[] = [];
  const script: number[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const answered = script.shift() ?? 204;
      received.push({
        headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, String(v)])),
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
        answered,
      });
      response.writeHead(answered, { 'Content-Type': 'text/plain' });
      response.end(answered >= 300 ? 'receiver is down for maintenance' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    answerWith: (...statuses) => void script.push(...statuses),
    async waitFor(count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} deliveries, got ${received.length} in ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      return received.slice(0, count);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
