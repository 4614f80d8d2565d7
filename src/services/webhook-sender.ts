// Sends queued webhook deliveries, signed the Standard Webhooks way
// (webhook-id, webhook-timestamp, webhook-signature from the standardwebhooks
// package). The queue is the WebhookDelivery table:
// - in order per endpoint: only the oldest pending delivery of an endpoint may be
//   sent, so a later event waits while an earlier one is retried;
// - claimed with a lease (FOR UPDATE SKIP LOCKED, then leasedUntil), so two
//   instances never send one delivery at once; a lease outlives the request's
//   timeout many times over, so a delivery answered 2xx is marked delivered
//   before anyone else could claim it, and is never sent again;
// - retried with growing delays (the first after 5 s) and given up a day after
//   the event.
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Webhook } from 'standardwebhooks';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { BlockedAddressError, hostMatcher, type LookupFunction } from '../knowledge/address-policy.ts';
import { createGuardedAgent } from '../knowledge/guarded-agent.ts';
import type { WebhookDelivery, WebhookService } from './webhooks.ts';

/** Waits after the 1st, 2nd... failed attempt; after the last one, or once a day has passed, the delivery is given up. */
export const RETRY_DELAYS_MS = [5, 30, 120, 600, 1800, 3600, 7200, 14_400, 28_800, 28_800].map((seconds) => seconds * 1000);
export const GIVE_UP_AFTER_MS = 24 * 3600_000;
/** A receiver gets this long to answer. */
const REQUEST_TIMEOUT_MS = 10_000;
/** A claimed delivery is this instance's for this long: far beyond the request's timeout. */
const LEASE_MS = 60_000;
/** Bytes of a receiver's answer kept to show in last_error; the rest is never read. */
const RESPONSE_CAP_BYTES = 1024;
/** Deliveries claimed at a time (each to a different endpoint, since only an endpoint's oldest is due). */
const BATCH = 8;
const USER_AGENT = 'assistant-gateway-webhooks/0.1';
/** Delivered and given-up deliveries stay readable this long (GET .../deliveries), then go; checked once an hour. */
const KEEP_SETTLED_MS = 30 * 24 * 3600_000;
const PRUNE_EVERY_MS = 3600_000;

/** Reads at most `cap` bytes of a body, then lets go of it. */
async function readCapped(body: Readable, cap: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= cap) break;
    }
  } catch {
    // A body that breaks off says nothing more than its status.
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, cap).toString('utf8');
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function describeFailure(error: unknown): string {
  const blocked = findCause(error, (e): e is BlockedAddressError => e instanceof BlockedAddressError);
  if (blocked) return `${blocked.message}; list the host in WEBHOOK_ALLOW_HOSTS to allow it.`;
  const name = (error as Error)?.name;
  const code = (error as { code?: string })?.code ?? (error as { cause?: { code?: string } })?.cause?.code;
  if (name === 'TimeoutError' || name === 'AbortError' || (code !== undefined && TIMEOUT_CODES.has(code))) {
    return `The receiver did not answer within ${REQUEST_TIMEOUT_MS / 1000} s.`;
  }
  return `The request failed${code ? ` (${code})` : ''}: ${(error as Error)?.message ?? String(error)}`;
}

function findCause<T>(error: unknown, test: (e: unknown) => e is T): T | null {
  for (let current = error, depth = 0; current && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    if (test(current)) return current;
  }
  return null;
}

export type WebhookSenderOptions = {
  prisma: PrismaClient;
  webhooks: WebhookService;
  allowHosts: readonly string[];
  lookup?: LookupFunction;
  pollMs?: number;
  onError?: (error: unknown) => void;
};

export function startWebhookSender({ prisma, webhooks, allowHosts, lookup, pollMs = 1000, onError = (error) => console.error('Webhook delivery failed unexpectedly:', error) }: WebhookSenderOptions) {
  const agent = createGuardedAgent({ isAllowed: hostMatcher(allowHosts), timeoutMs: REQUEST_TIMEOUT_MS, lookup });
  const workerId = `${process.pid}-${randomUUID()}`;
  let stopped = false;
  let wake = () => {};

  /** The due deliveries that are their endpoint's oldest pending one, leased to this worker. */
  function claim(): Promise<WebhookDelivery[]> {
    return prisma.$queryRaw<WebhookDelivery[]>`
      UPDATE "WebhookDelivery" SET "leasedUntil" = now() + ${`${LEASE_MS} milliseconds`}::interval, "leasedBy" = ${workerId},
             attempts = attempts + 1, "updatedAt" = now()
      WHERE id IN (
        SELECT d.id FROM "WebhookDelivery" d
        WHERE d.status = 'pending' AND d."nextAttemptAt" <= now() AND (d."leasedUntil" IS NULL OR d."leasedUntil" < now())
          AND NOT EXISTS (SELECT 1 FROM "WebhookDelivery" e WHERE e."endpointId" = d."endpointId" AND e.status = 'pending' AND e.seq < d.seq)
        ORDER BY d."nextAttemptAt"
        LIMIT ${BATCH}
        FOR UPDATE OF d SKIP LOCKED
      )
      RETURNING *`;
  }

  async function attempt(delivery: WebhookDelivery) {
    const endpoint = await prisma.webhookEndpoint.findUnique({ where: { id: delivery.endpointId } });
    if (!endpoint) return; // deleted meanwhile, with its deliveries
    const body = JSON.stringify(delivery.payload);
    const now = new Date();
    const signature = new Webhook(endpoint.secret).sign(delivery.eventId, now, body);
    const url = new URL(endpoint.url);
    let status: number | null = null;
    let failure: string | null = null;
    try {
      const response = await agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          'webhook-id': delivery.eventId,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': signature,
        },
        body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      status = response.statusCode;
      const answer = await readCapped(response.body, RESPONSE_CAP_BYTES);
      if (status < 200 || status > 299) failure = `The receiver answered HTTP ${status}${answer.trim() ? `: ${answer.trim().slice(0, 200)}` : ''}.`;
    } catch (error) {
      failure = describeFailure(error);
    }
    const held = { id: delivery.id, leasedBy: workerId, status: 'pending' };
    if (failure === null) {
      await prisma.webhookDelivery.updateMany({
        where: held,
        data: { status: 'delivered', deliveredAt: new Date(), lastStatus: status, lastError: null, leasedUntil: null, leasedBy: null },
      });
      return;
    }
    const delay = RETRY_DELAYS_MS[delivery.attempts - 1];
    const next = delay === undefined ? null : new Date(Date.now() + delay);
    const giveUp = next === null || next.getTime() > delivery.createdAt.getTime() + GIVE_UP_AFTER_MS;
    await prisma.webhookDelivery.updateMany({
      where: held,
      data: giveUp
        ? { status: 'failed', lastStatus: status, lastError: failure, leasedUntil: null, leasedBy: null }
        : { nextAttemptAt: next!, lastStatus: status, lastError: failure, leasedUntil: null, leasedBy: null },
    });
    // Its successor on the same endpoint waits behind it; others may already be due.
    if (!giveUp) setTimeout(() => wake(), delay! + 50).unref();
  }

  let lastPrune = 0;
  async function prune() {
    if (Date.now() - lastPrune < PRUNE_EVERY_MS) return;
    lastPrune = Date.now();
    await prisma.webhookDelivery.deleteMany({ where: { status: { not: 'pending' }, updatedAt: { lt: new Date(Date.now() - KEEP_SETTLED_MS) } } });
  }

  async function loop() {
    while (!stopped) {
      try {
        // Only costs space when it fails: never in the way of sending.
        await prune().catch(onError);
        const claimed = await claim();
        if (claimed.length > 0) {
          await Promise.all(claimed.map((delivery) => attempt(delivery).catch(onError)));
          continue;
        }
      } catch (error) {
        if (stopped) return;
        onError(error);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => done(), pollMs);
        timer.unref();
        const done = () => {
          clearTimeout(timer);
          wake = () => {};
          resolve();
        };
        wake = done;
      });
    }
  }

  const unsubscribe = webhooks.onEmit(() => wake());
  const running = loop();
  return {
    async stop() {
      stopped = true;
      unsubscribe();
      wake();
      await running;
      await agent.close().catch(() => {});
    },
  };
}
