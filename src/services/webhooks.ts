// Webhook endpoints and the events they are told of. An event is written as one
// delivery per subscribed endpoint (a durable queue, sent by
// src/services/webhook-sender.ts), with the body Standard Webhooks describes:
// {type, timestamp, data}. Endpoint URLs obey the knowledge base's address
// policy: a private address is refused unless its host is in WEBHOOK_ALLOW_HOSTS.
import { randomBytes, randomUUID } from 'node:crypto';
import dns from 'node:dns';
import net from 'node:net';
import { z } from 'zod';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { AppError, invalid, notFound } from '../errors.ts';
import { describeAddress, hostMatcher, isPublicAddress, type LookupFunction } from '../knowledge/address-policy.ts';
import { TtlCache } from './ttl-cache.ts';
import { findPage, isUuid, parseInput, type Page, type PageArgs } from './validation.ts';
import type { Viewer } from './viewer.ts';

export const WEBHOOK_EVENTS = ['message.completed', 'source.ready', 'source.failed', 'handoff.requested', 'feedback.created'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

export type WebhookEndpoint = Prisma.WebhookEndpointGetPayload<object>;
export type WebhookDelivery = Prisma.WebhookDeliveryGetPayload<object>;

/** Endpoints one organization may register. */
export const MAX_ENDPOINTS = 20;
/** How long an instance trusts its list of an organization's endpoints; another instance's new endpoint is seen after this. */
const ENDPOINTS_TTL_MS = 5_000;

const createSchema = z.object({
  url: z
    .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
    .trim()
    .max(2048, { error: 'must be at most 2048 characters' })
    .refine(
      (value) => {
        try {
          const url = new URL(value);
          return ['http:', 'https:'].includes(url.protocol) && url.username === '' && url.password === '';
        } catch {
          return false;
        }
      },
      { error: 'must be an http or https URL without a user name or password, such as https://example.com/hooks' },
    ),
  events: z
    .array(z.enum(WEBHOOK_EVENTS, { error: `must each be one of ${WEBHOOK_EVENTS.join(', ')}` }), {
      error: (issue) => (issue.input === undefined ? 'is required' : 'must be a list of event types'),
    })
    .min(1, { error: `must name at least one of ${WEBHOOK_EVENTS.join(', ')}` })
    .transform((events) => [...new Set(events)]),
});

/** A signing secret as Standard Webhooks writes them: whsec_ and 32 random bytes in base64. */
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/** Standard Webhooks' message ids: the same for every attempt, so a receiver can drop a repeat. */
const newEventId = () => `msg_${randomUUID().replaceAll('-', '')}`;

export type WebhooksDeps = {
  prisma: PrismaClient;
  /** Hosts that may be private addresses (WEBHOOK_ALLOW_HOSTS). */
  allowHosts: readonly string[];
  /** DNS lookup used instead of dns.lookup (tests resolve names with it). */
  lookup?: LookupFunction;
};

export function createWebhookService({ prisma, allowHosts, lookup = dns.lookup as LookupFunction }: WebhooksDeps) {
  const isAllowed = hostMatcher(allowHosts);
  const subscribed = new TtlCache<string, Promise<Array<{ id: string; events: string[] }>>>(ENDPOINTS_TTL_MS, 10_000);
  const wakers = new Set<() => void>();

  /** Addresses the host stands for: itself when it is one, else what DNS answers. */
  async function addressesOf(host: string): Promise<string[]> {
    const bare = host.startsWith('[') ? host.slice(1, -1) : host;
    if (net.isIP(bare) !== 0) return [bare];
    return new Promise((resolve, reject) =>
      lookup(bare, { all: true }, (error, addresses) => (error ? reject(error) : resolve((addresses as dns.LookupAddress[]).map((a) => a.address)))),
    );
  }

  /** Refuses a URL whose host is, or resolves to, a non-public address (deliveries check again, at each connection). */
  async function assertDeliverable(value: string) {
    const url = new URL(value);
    if (isAllowed(url.hostname)) return;
    let addresses: string[];
    try {
      addresses = await addressesOf(url.hostname);
    } catch {
      throw invalid([{ field: 'url', message: `names a host that could not be resolved (${url.hostname}); check the address` }]);
    }
    const blocked = addresses.find((address) => !isPublicAddress(address));
    if (blocked !== undefined) {
      throw invalid([
        {
          field: 'url',
          message: `points to ${describeAddress(blocked)} (${blocked}), which webhooks may not call; list the host in WEBHOOK_ALLOW_HOSTS to allow it`,
        },
      ]);
    }
  }

  async function get(viewer: Viewer, id: string): Promise<WebhookEndpoint> {
    const endpoint = isUuid(id) ? await prisma.webhookEndpoint.findFirst({ where: { id, organizationId: viewer.organizationId } }) : null;
    if (!endpoint) throw notFound('Webhook', id);
    return endpoint;
  }

  function endpointsFor(organizationId: string) {
    const cached = subscribed.get(organizationId);
    if (cached) return cached;
    // The read itself is cached: sources settling together (Q&A pairs indexed in one run) read once.
    const reading = prisma.webhookEndpoint.findMany({ where: { organizationId }, select: { id: true, events: true } });
    subscribed.set(organizationId, reading);
    reading.catch(() => subscribed.get(organizationId) === reading && subscribed.delete(organizationId));
    return reading;
  }

  return {
    get,

    /** Registers an endpoint; the result's secret is the only time it is shown. */
    async create(viewer: Viewer, input: { url?: unknown; events?: unknown }): Promise<WebhookEndpoint> {
      const data = parseInput(createSchema, input);
      await assertDeliverable(data.url);
      const count = await prisma.webhookEndpoint.count({ where: { organizationId: viewer.organizationId } });
      if (count >= MAX_ENDPOINTS) {
        throw new AppError('CONFLICT', `An organization may register at most ${MAX_ENDPOINTS} webhooks; delete one before adding another.`);
      }
      const endpoint = await prisma.webhookEndpoint.create({
        data: { organizationId: viewer.organizationId, url: data.url, events: data.events, secret: newSecret() },
      });
      subscribed.clear();
      return endpoint;
    },

    list(viewer: Viewer, args: PageArgs): Promise<Page<WebhookEndpoint>> {
      const where = { organizationId: viewer.organizationId };
      return findPage(
        args,
        (page) => prisma.webhookEndpoint.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], ...page }),
        () => prisma.webhookEndpoint.count({ where }),
      );
    },

    /** Deletes the endpoint; deliveries not yet sent go with it. */
    async delete(viewer: Viewer, id: string) {
      const endpoint = await get(viewer, id);
      await prisma.webhookEndpoint.delete({ where: { id: endpoint.id } });
      subscribed.clear();
      return endpoint;
    },

    /** Deliveries to one endpoint, newest first. */
    async deliveries(viewer: Viewer, id: string, args: PageArgs & { status?: string | null }): Promise<Page<WebhookDelivery>> {
      const endpoint = await get(viewer, id);
      const where: Prisma.WebhookDeliveryWhereInput = { endpointId: endpoint.id, ...(args.status ? { status: args.status } : {}) };
      return findPage(
        args,
        (page) => prisma.webhookDelivery.findMany({ where, orderBy: [{ seq: 'desc' }], ...page }),
        () => prisma.webhookDelivery.count({ where }),
      );
    },

    /** Whether any of the organization's endpoints takes one of these events (from the cached endpoints, mostly without a statement). */
    async listens(organizationId: string, types: WebhookEventType[]) {
      return (await endpointsFor(organizationId)).some((endpoint) => types.some((type) => endpoint.events.includes(type)));
    },

    /**
     * Queues an event for every endpoint of the organization subscribed to its
     * type. `data` is the event's public shape (snake_case, as the REST API shows it).
     */
    async emit(organizationId: string, type: WebhookEventType, data: Record<string, unknown>) {
      const endpoints = (await endpointsFor(organizationId)).filter((endpoint) => endpoint.events.includes(type));
      if (endpoints.length === 0) return;
      const eventId = newEventId();
      const payload = { type, timestamp: new Date().toISOString(), data } as Prisma.InputJsonObject;
      await prisma.webhookDelivery.createMany({
        data: endpoints.map((endpoint) => ({ organizationId, endpointId: endpoint.id, eventId, type, payload })),
      });
      for (const wake of wakers) wake();
    },

    /** Called when an event is queued in this process, so an idle sender starts at once. */
    onEmit(wake: () => void) {
      wakers.add(wake);
      return () => wakers.delete(wake);
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
