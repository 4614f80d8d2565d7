// Which network addresses the knowledge base may fetch pages from.
//
// The rule: every address a page fetch dials must be a public unicast address,
// unless the URL's host is listed in KNOWLEDGE_URL_ALLOW_HOSTS. Address ranges
// come from ipaddr.js (the table request-filtering-agent uses too); IPv6 must
// also lie in 2000::/3, the only block handed out as global unicast.
//
// The check is made where the socket is opened (see fetch-page.ts): on the
// literal address of the URL, or inside the DNS lookup whose answer the socket
// then dials, so a name that re-resolves between a check and the connection
// (DNS rebinding) cannot slip through.

import net from 'node:net';
import type { LookupAddress, LookupOptions } from 'node:dns';
import ipaddr from 'ipaddr.js';

/** A DNS lookup with the signature of `dns.lookup` (what `net.connect` takes). */
export type LookupFunction = net.LookupFunction;

type Address = ipaddr.IPv4 | ipaddr.IPv6;

const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');

/**
 * Parses an IP address written any way a URL host may spell it: dotted IPv4,
 * the other IPv4 spellings the URL standard accepts (`2130706433`, `0x7f.1`,
 * `017700000001`), IPv6 with or without brackets, IPv4-mapped IPv6. Anything
 * else (host names included) gives null.
 */
function parseAddress(input: string): Address | null {
  let text = input.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  if (net.isIPv4(text)) return ipaddr.parse(text);
  if (net.isIPv6(text)) {
    // Classify the address the URL standard (and so the connection) uses:
    // ipaddr.js reads `::1.2.3.4` as IPv4-mapped, but it is `::102:304`. A
    // zone (`%eth0`) does not change which address it is.
    const bare = text.split('%')[0];
    try {
      return ipaddr.parse(new URL(`http://[${bare}]/`).hostname.slice(1, -1));
    } catch {
      return null;
    }
  }
  // Not plain dotted-decimal IPv4 or IPv6: let the WHATWG URL parser, the one
  // undici reads URLs with, decide whether it is another IPv4 spelling.
  if (!/^[0-9a-fx.]+$/i.test(text)) return null;
  try {
    const hostname = new URL(`http://${text}/`).hostname;
    return net.isIPv4(hostname) ? ipaddr.parse(hostname) : null;
  } catch {
    return null;
  }
}

/** The ipaddr.js range name of an address, 'unicast' only for public ones. */
function rangeOf(address: Address): string {
  if (address.kind() === 'ipv6') {
    const v6 = address as ipaddr.IPv6;
    // ::ffff:a.b.c.d is dialled as a.b.c.d: judge the IPv4 address.
    if (v6.isIPv4MappedAddress()) return rangeOf(v6.toIPv4Address());
    const range = v6.range();
    if (range !== 'unicast') return range;
    return v6.match(GLOBAL_UNICAST_V6) ? 'unicast' : 'reserved';
  }
  return (address as ipaddr.IPv4).range();
}

/**
 * True when `ip` is an IP address (in any spelling a URL host accepts) that is
 * public unicast: not loopback, private, link-local, unique-local, carrier-grade
 * NAT, unspecified, multicast, broadcast, documentation or otherwise reserved.
 * False for anything that is not an IP address.
 */
export function isPublicAddress(ip: string): boolean {
  const address = parseAddress(ip);
  return address !== null && rangeOf(address) === 'unicast';
}

const RANGE_WORDS: Record<string, string> = {
  private: 'a private address',
  uniqueLocal: 'a private address',
  loopback: 'a loopback address',
  linkLocal: 'a link-local address',
  unspecified: 'an unspecified address',
  carrierGradeNat: 'a shared (carrier-grade NAT) address',
  multicast: 'a multicast address',
  broadcast: 'a broadcast address',
};

/** Words for why an address is refused, e.g. "a private address". */
export function describeAddress(ip: string): string {
  const address = parseAddress(ip);
  if (address === null) return 'something that is not an IP address';
  const range = rangeOf(address);
  if (range === 'unicast') return 'a public address';
  return RANGE_WORDS[range] ?? 'a reserved, non-public address';
}

/** Raised inside a connection attempt when the address to dial is not public. */
export class BlockedAddressError extends Error {
  readonly host: string;
  readonly address: string;
  readonly code = 'ERR_KNOWLEDGE_BLOCKED_ADDRESS';

  constructor(host: string, address: string) {
    super(`${host} resolves to ${describeAddress(address)} (${address}), which may not be fetched`);
    this.name = 'BlockedAddressError';
    this.host = host;
    this.address = address;
  }
}

/**
 * The canonical form of a host name or address, for comparing hosts: lower
 * case, no brackets, no trailing dot, addresses in the URL standard's spelling
 * (so `0x7f.1` is `127.0.0.1` and `0:0:0:0:0:0:0:1` is `::1`). Null when the
 * text is not a host (a port, a path, a user name, or nothing).
 */
export function normalizeHost(host: string): string | null {
  let text = host.trim().toLowerCase();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  if (text === '') return null;
  if (net.isIPv6(text)) {
    try {
      return new URL(`http://[${text}]/`).hostname.slice(1, -1);
    } catch {
      return null;
    }
  }
  if (/[\s/\\?#@:[\]%]/.test(text)) return null;
  try {
    const hostname = new URL(`http://${text}/`).hostname;
    const bare = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
    return bare === '' ? null : bare;
  } catch {
    return null;
  }
}

/**
 * Reads an allow list (KNOWLEDGE_URL_ALLOW_HOSTS, WEBHOOK_ALLOW_HOSTS):
 * comma-separated host names or addresses. Throws on an entry that is neither
 * (such as `host:8080`), so a typo shows at startup instead of silently
 * allowing nothing.
 */
export function parseAllowHosts(value: string | undefined, variable = 'KNOWLEDGE_URL_ALLOW_HOSTS'): string[] {
  if (value === undefined) return [];
  const hosts: string[] = [];
  for (const entry of value.split(',')) {
    if (entry.trim() === '') continue;
    const host = normalizeHost(entry);
    if (host === null) {
      throw new Error(
        `${variable} entry "${entry.trim()}" is not a host name or an IP address (list hosts without scheme, port or path).`,
      );
    }
    hosts.push(host);
  }
  return hosts;
}

/** Tells whether a URL host is on the allow list (exact, case-insensitive). */
export function hostMatcher(allowHosts: readonly string[]): (host: string) => boolean {
  const allowed = new Set<string>();
  for (const entry of allowHosts) {
    const host = normalizeHost(entry);
    if (host !== null) allowed.add(host);
  }
  return (host) => {
    const normalized = normalizeHost(host);
    return normalized !== null && allowed.has(normalized);
  };
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * Wraps a DNS lookup so that it fails with BlockedAddressError when any
 * address the name resolves to is not public. The socket dials only what this
 * lookup hands back, so the check covers exactly the addresses connected to.
 */
export function guardLookup(base: LookupFunction): LookupFunction {
  return (hostname: string, options: LookupOptions, callback: LookupCallback) => {
    base(hostname, { ...options, all: true }, (err, result, resultFamily) => {
      if (err) {
        callback(err, options.all ? [] : '');
        return;
      }
      // A lookup may ignore `all` and answer with one address.
      const addresses: LookupAddress[] = Array.isArray(result)
        ? result
        : [{ address: result, family: resultFamily ?? net.isIP(result) }];
      if (addresses.length === 0) {
        const notFound: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
        notFound.code = 'ENOTFOUND';
        callback(notFound, options.all ? [] : '');
        return;
      }
      for (const { address } of addresses) {
        if (!isPublicAddress(address)) {
          callback(new BlockedAddressError(hostname, address), options.all ? [] : '');
          return;
        }
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0].address, addresses[0].family);
    });
  };
}
