// The client address that per-address budgets and failed-authentication
// counts are keyed by. Behind a reverse proxy every request comes from the
// proxy, so TRUST_PROXY names the proxies whose X-Forwarded-For is believed
// (proxy-addr, Express's own implementation of that rule); without it the
// header is ignored, since anyone can write it. An IPv6 client usually holds a
// whole /64, so it is counted by that prefix: otherwise one host could take a
// fresh address for every request.
import type { IncomingMessage } from 'node:http';
import ipaddr from 'ipaddr.js';
import proxyAddr from 'proxy-addr';

/** The key of requests that did not come over a socket (the in-process fetch handler, as tests use it). */
export const LOCAL_ADDRESS = 'local';

export type ClientAddressOf = (req: IncomingMessage | undefined) => string;

export function createClientAddress(trustProxy: string[] = []): ClientAddressOf {
  const trusted = proxyAddr.compile(trustProxy);
  return (req) => {
    if (!req?.socket.remoteAddress) return LOCAL_ADDRESS;
    return addressKey(trustProxy.length > 0 ? proxyAddr(req, trusted) : req.socket.remoteAddress);
  };
}

/** IPv4 as it is (IPv4-mapped IPv6 included), IPv6 by its /64 prefix. */
export function addressKey(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4);
  return `${ipaddr.fromByteArray([...parts.flatMap((part) => [part >> 8, part & 0xff]), ...new Array(8).fill(0)]).toString()}/64`;
}
