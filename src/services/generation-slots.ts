// Bounds the replies one instance generates at once (MAX_CONCURRENT_GENERATIONS)
// and shares them fairly between organizations. Requests beyond the bound wait
// in a bounded queue (GENERATION_QUEUE_SIZE); past it they are refused at once
// with 503 and Retry-After, since a local model serves a handful of replies at
// a time at best.
//
// Fairness: an organization holds at most MAX_GENERATIONS_PER_ORGANIZATION
// slots and GENERATION_QUEUE_PER_ORGANIZATION queue places, so one tenant's
// flood cannot take what the others need; its own excess is refused with a
// detail saying it is at its share. A freed slot goes to the waiting
// organization with the fewest active replies, taking turns between equals
// (the one served longest ago first); within an organization, arrival order.
// The shares hold per instance: with N instances behind a load balancer, an
// organization may hold N times its share overall.
import { AppError } from '../errors.ts';

/** Suggested wait before retrying a refused request, in seconds. */
const RETRY_AFTER_SECONDS = 5;

export type GenerationSlotLimits = {
  /** Replies generated at once on this instance. */
  concurrency: number;
  /** Replies waiting for a slot on this instance, all organizations together. */
  queueSize: number;
  /** Slots one organization may hold at once (at most `concurrency`). */
  perOrganization: number;
  /** Queue places one organization may hold (at most `queueSize`). */
  queuePerOrganization: number;
};

export type GenerationSlots = {
  /**
   * Takes a slot or a place in the queue at once for the organization, and
   * resolves when the slot is free; the returned function frees it (call it
   * exactly once; later calls do nothing). Throws OVERLOADED synchronously
   * when the organization's share of the queue or the whole queue is taken,
   * so a caller can refuse a request before doing anything for it. An abort
   * while waiting gives the place up and rejects with the signal's reason.
   */
  acquire(organizationId: string, signal?: AbortSignal): Promise<() => void>;
  /** Replies being generated now, all organizations. */
  readonly active: number;
  /** Replies waiting for a slot now, all organizations (the queue depth). */
  readonly waiting: number;
  /** One organization's replies being generated and waiting now. */
  usage(organizationId: string): { active: number; waiting: number };
  /** Resolves once no reply is being generated or waiting, or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void>;
};

type Entry = { grant: () => void };
type Tenant = { active: number; queue: Entry[]; lastServed: number };

export function createGenerationSlots(limits: GenerationSlotLimits): GenerationSlots {
  const concurrency = limits.concurrency;
  const queueSize = limits.queueSize;
  const perOrganization = Math.min(limits.perOrganization, concurrency);
  const queuePerOrganization = Math.min(limits.queuePerOrganization, queueSize);
  let active = 0;
  let waiting = 0;
  /** Grants handed out so far: a tenant's `lastServed` is the number of its latest. */
  let served = 0;
  // Tenants with nothing active or waiting are dropped, so the map stays as small as the current load.
  const tenants = new Map<string, Tenant>();

  const tenantOf = (organizationId: string) => {
    let tenant = tenants.get(organizationId);
    if (!tenant) {
      // Next after the tenants waiting since an earlier grant, before the one served last: a newcomer
      // neither jumps ahead of those waiting longer nor waits behind a tenant that was just served.
      tenant = { active: 0, queue: [], lastServed: served - 0.5 };
      tenants.set(organizationId, tenant);
    }
    return tenant;
  };
  const forget = (organizationId: string, tenant: Tenant) => {
    if (tenant.active === 0 && tenant.queue.length === 0) tenants.delete(organizationId);
  };

  const take = (tenant: Tenant) => {
    active++;
    tenant.active++;
    tenant.lastServed = ++served;
  };

  /** Hands free slots to waiting tenants below their share: fewest active first, then the one served longest ago. */
  function dispatch() {
    while (active < concurrency) {
      let next: Tenant | undefined;
      for (const tenant of tenants.values()) {
        if (tenant.queue.length === 0 || tenant.active >= perOrganization) continue;
        if (!next || tenant.active < next.active || (tenant.active === next.active && tenant.lastServed < next.lastServed)) next = tenant;
      }
      if (!next) return;
      const entry = next.queue.shift()!;
      waiting--;
      take(next);
      entry.grant();
    }
  }

  const releaser = (organizationId: string, tenant: Tenant) => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      active--;
      tenant.active--;
      forget(organizationId, tenant);
      dispatch();
    };
  };

  return {
    get active() {
      return active;
    },
    get waiting() {
      return waiting;
    },
    usage(organizationId) {
      const tenant = tenants.get(organizationId);
      return { active: tenant?.active ?? 0, waiting: tenant?.queue.length ?? 0 };
    },
    acquire(organizationId, signal) {
      const tenant = tenantOf(organizationId);
      // Nobody this tenant could overtake is waiting: dispatch() leaves no tenant below its share queued while a slot is free.
      if (active < concurrency && tenant.active < perOrganization) {
        take(tenant);
        return Promise.resolve(releaser(organizationId, tenant));
      }
      if (tenant.queue.length >= queuePerOrganization) {
        forget(organizationId, tenant);
        throw new AppError(
          'OVERLOADED',
          `Your organization is at its share of this server's replies: ${tenant.active} being generated and ${tenant.queue.length} waiting ` +
            `(at most ${perOrganization} at once and ${queuePerOrganization} waiting per organization); retry in a few seconds.`,
          { retryAfter: RETRY_AFTER_SECONDS },
        );
      }
      if (waiting >= queueSize) {
        forget(organizationId, tenant);
        throw new AppError('OVERLOADED', `All ${concurrency} reply slots and ${queueSize} queue places are taken; retry in a few seconds.`, {
          retryAfter: RETRY_AFTER_SECONDS,
        });
      }
      return new Promise((resolve, reject) => {
        const onAbort = () => {
          const index = tenant.queue.indexOf(entry);
          if (index === -1) return;
          tenant.queue.splice(index, 1);
          waiting--;
          forget(organizationId, tenant);
          reject(signal!.reason);
        };
        // The listener goes once the slot is granted: a long-lived signal (a WebSocket) must not collect them.
        const entry: Entry = {
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve(releaser(organizationId, tenant));
          },
        };
        tenant.queue.push(entry);
        waiting++;
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    async idle(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while ((active > 0 || waiting > 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    },
  };
}
