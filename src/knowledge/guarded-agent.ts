// An undici Agent that dials only addresses the address policy allows: every
// address must be public unicast unless the URL's host is on the allow list.
// A literal address is judged before any socket exists, a host name inside the
// DNS lookup whose answer the socket then dials (so DNS rebinding cannot slip
// through). It never uses a proxy. Page fetches and webhook deliveries share it.
import dns from 'node:dns';
import net from 'node:net';
import { Agent, buildConnector } from 'undici';
import { BlockedAddressError, guardLookup, isPublicAddress, type LookupFunction } from './address-policy.ts';

export type GuardedAgentOptions = {
  /** Hosts (already matched by hostMatcher) that may be private. */
  isAllowed: (host: string) => boolean;
  /** Bounds connecting, waiting for headers and for each piece of the body. */
  timeoutMs: number;
  /** DNS lookup used instead of dns.lookup (tests resolve names with it). */
  lookup?: LookupFunction;
};

export function createGuardedAgent({ isAllowed, timeoutMs, lookup }: GuardedAgentOptions): Agent {
  const baseLookup = lookup ?? (dns.lookup as LookupFunction);
  const connectTimeout = Math.max(1, Math.min(timeoutMs, 10_000));
  const open = buildConnector({ timeout: connectTimeout, lookup: baseLookup });
  const guarded = buildConnector({ timeout: connectTimeout, lookup: guardLookup(baseLookup) });
  return new Agent({
    connect(connectOptions, callback) {
      const { hostname } = connectOptions;
      if (isAllowed(hostname)) {
        open(connectOptions, callback);
        return;
      }
      if (net.isIP(hostname) !== 0 && !isPublicAddress(hostname)) {
        process.nextTick(callback, new BlockedAddressError(hostname, hostname), null);
        return;
      }
      guarded(connectOptions, callback);
    },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
}
