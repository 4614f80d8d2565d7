// Fetches one web page for the knowledge base, safely.
//
// - only http: and https: URLs, without user names or passwords;
// - every address dialled, on every hop, must be public unicast unless the
//   hop's host is in the allow list (KNOWLEDGE_URL_ALLOW_HOSTS). The check sits
//   in the undici connector: a literal address is judged before any socket is
//   opened, a host name inside the DNS lookup whose answer the socket dials;
// - redirects are followed by hand, each hop checked again;
// - one deadline for the whole fetch, a byte limit enforced while streaming
//   (after decompression), and a short list of text content types.

import { STATUS_CODES } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { Agent } from 'undici';
import { BlockedAddressError, describeAddress, hostMatcher, type LookupFunction } from './address-policy.ts';
import { createGuardedAgent } from './guarded-agent.ts';

export { isPublicAddress, parseAllowHosts, type LookupFunction } from './address-policy.ts';

export type FetchPageErrorCode =
  | 'INVALID_URL'
  | 'BLOCKED_ADDRESS'
  | 'TOO_LARGE'
  | 'TIMEOUT'
  | 'TOO_MANY_REDIRECTS'
  | 'HTTP_ERROR'
  | 'UNSUPPORTED_CONTENT'
  | 'NETWORK';

export class FetchPageError extends Error {
  readonly code: FetchPageErrorCode;

  constructor(code: FetchPageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FetchPageError';
    this.code = code;
  }
}

export interface FetchPageOptions {
  /** Host names or addresses that may be private (KNOWLEDGE_URL_ALLOW_HOSTS). */
  allowHosts: readonly string[];
  /** Largest body accepted, in bytes, after decompression. */
  maxBytes: number;
  /** Deadline for the whole fetch, redirects and body included. */
  timeoutMs: number;
  /** Redirects followed before giving up; 0 follows none. */
  maxRedirects: number;
  /** DNS lookup used instead of dns.lookup (tests resolve names with it). */
  lookup?: LookupFunction;
  userAgent?: string;
}

export interface FetchedPage {
  /** The URL the page finally came from, after redirects (without fragment). */
  finalUrl: string;
  /** The Content-Type header as sent, parameters (charset) included. */
  contentType: string;
  body: Uint8Array;
  status: number;
}

export const ACCEPTED_CONTENT_TYPES: readonly string[] = [
  'text/html',
  'application/xhtml+xml',
  'text/plain',
  'text/markdown',
];

const DEFAULT_USER_AGENT = 'assistant-gateway-knowledge/0.1 (+knowledge base page fetcher)';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const ALLOW_HINT = 'KNOWLEDGE_URL_ALLOW_HOSTS';

export async function fetchPage(url: string, options: FetchPageOptions): Promise<FetchedPage> {
  const first = parseStartUrl(url);
  const isAllowed = hostMatcher(options.allowHosts);
  const agent = createGuardedAgent({ isAllowed, timeoutMs: options.timeoutMs, lookup: options.lookup });
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), options.timeoutMs);
  const headers = {
    'user-agent': options.userAgent ?? DEFAULT_USER_AGENT,
    accept: 'text/html,application/xhtml+xml,text/markdown;q=0.9,text/plain;q=0.8,*/*;q=0.1',
    'accept-encoding': 'gzip, deflate, br',
  };

  let current = first;
  let previous: URL | null = null;
  try {
    for (let redirects = 0; ; ) {
      let response: Awaited<ReturnType<Agent['request']>>;
      try {
        response = await agent.request({
          origin: current.origin,
          path: `${current.pathname}${current.search}`,
          method: 'GET',
          headers,
          signal: deadline.signal,
        });
      } catch (error) {
        throw translateError(error, current, previous, deadline.signal, options);
      }
      const { statusCode, body } = response;

      if (REDIRECT_STATUSES.has(statusCode)) {
        const location = headerValue(response.headers, 'location');
        discard(body);
        if (location === undefined || location.trim() === '') {
          throw new FetchPageError(
            'HTTP_ERROR',
            `${current.href} answered with a redirect (HTTP ${statusCode}) but did not say where to.`,
          );
        }
        let next: URL;
        try {
          next = new URL(location, current);
        } catch {
          throw new FetchPageError(
            'INVALID_URL',
            `${current.href} redirected to "${location}", which is not a valid web address.`,
          );
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new FetchPageError(
            'INVALID_URL',
            `${current.href} redirected to a ${next.protocol} address (${next.href}); the knowledge base only follows http and https links.`,
          );
        }
        if (next.username !== '' || next.password !== '') {
          throw new FetchPageError(
            'INVALID_URL',
            `${current.href} redirected to an address with a user name or password in it, which the knowledge base does not follow.`,
          );
        }
        if (redirects >= options.maxRedirects) {
          throw new FetchPageError(
            'TOO_MANY_REDIRECTS',
            `${first.href} redirected more than ${options.maxRedirects} time${options.maxRedirects === 1 ? '' : 's'} (the last to ${next.href}); the knowledge base stops there.`,
          );
        }
        redirects += 1;
        next.hash = '';
        previous = current;
        current = next;
        continue;
      }

      if (statusCode < 200 || statusCode > 299) {
        discard(body);
        const reason = STATUS_CODES[statusCode];
        throw new FetchPageError(
          'HTTP_ERROR',
          `${current.href} answered with HTTP ${statusCode}${reason ? ` ${reason}` : ''}; only pages that load successfully can be added.`,
        );
      }

      const contentType = headerValue(response.headers, 'content-type')?.trim() ?? '';
      const mediaType = contentType.split(';')[0].trim().toLowerCase();
      if (!ACCEPTED_CONTENT_TYPES.includes(mediaType)) {
        discard(body);
        throw new FetchPageError(
          'UNSUPPORTED_CONTENT',
          mediaType === ''
            ? `${current.href} did not say what kind of content it is (no Content-Type); the knowledge base adds only ${ACCEPTED_CONTENT_TYPES.join(', ')}.`
            : `${current.href} is ${mediaType}; the knowledge base adds only ${ACCEPTED_CONTENT_TYPES.join(', ')}.`,
        );
      }

      let bytes: Uint8Array;
      try {
        bytes = await readBody(response, current, options.maxBytes);
      } catch (error) {
        if (error instanceof FetchPageError) throw error;
        throw translateError(error, current, previous, deadline.signal, options);
      }
      current.hash = '';
      return { finalUrl: current.href, contentType, body: bytes, status: statusCode };
    }
  } finally {
    clearTimeout(timer);
    await agent.destroy().catch(() => {});
  }
}

function parseStartUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new FetchPageError('INVALID_URL', `"${url}" is not a valid web address.`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new FetchPageError(
      'INVALID_URL',
      `${parsed.href} uses ${parsed.protocol}, but the knowledge base fetches only http and https pages.`,
    );
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new FetchPageError(
      'INVALID_URL',
      `${parsed.protocol}//${parsed.host}${parsed.pathname} has a user name or password in it; the knowledge base fetches only pages that need no credentials.`,
    );
  }
  parsed.hash = '';
  return parsed;
}

async function readBody(
  response: Awaited<ReturnType<Agent['request']>>,
  url: URL,
  maxBytes: number,
): Promise<Uint8Array> {
  const tooLarge = () =>
    new FetchPageError(
      'TOO_LARGE',
      `${url.href} is larger than the knowledge base's limit of ${maxBytes.toLocaleString('en-US')} bytes for one page.`,
    );
  const encoding = (headerValue(response.headers, 'content-encoding') ?? 'identity').trim().toLowerCase();
  let source: Readable = response.body;
  if (encoding === 'identity' || encoding === '') {
    const declared = Number(headerValue(response.headers, 'content-length'));
    if (Number.isFinite(declared) && declared > maxBytes) {
      discard(response.body);
      throw tooLarge();
    }
  } else {
    const decoder =
      encoding === 'gzip' || encoding === 'x-gzip'
        ? zlib.createGunzip()
        : encoding === 'deflate'
          ? zlib.createInflate()
          : encoding === 'br'
            ? zlib.createBrotliDecompress()
            : null;
    if (decoder === null) {
      discard(response.body);
      throw new FetchPageError(
        'UNSUPPORTED_CONTENT',
        `${url.href} is sent with a content encoding the knowledge base cannot read (${encoding}).`,
      );
    }
    source = pipeline(response.body, decoder, () => {});
  }

  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      source.destroy();
      response.body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

function translateError(
  error: unknown,
  url: URL,
  previous: URL | null,
  deadline: AbortSignal,
  options: FetchPageOptions,
): FetchPageError {
  if (error instanceof FetchPageError) return error;
  const where = previous ? `${url.href} (reached by a redirect from ${previous.href})` : url.href;

  const blocked = findCause(error, (e): e is BlockedAddressError => e instanceof BlockedAddressError);
  if (blocked) {
    return new FetchPageError(
      'BLOCKED_ADDRESS',
      `${where} resolves to ${describeAddress(blocked.address)} (${blocked.address}), which the knowledge base may not fetch; list the host in ${ALLOW_HINT} to allow it.`,
      { cause: error },
    );
  }

  const timedOut =
    deadline.aborted ||
    findCause(error, (e): e is Error =>
      ['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'].includes(
        String((e as { code?: unknown }).code),
      ),
    ) !== undefined;
  if (timedOut) {
    const seconds = options.timeoutMs / 1000;
    return new FetchPageError(
      'TIMEOUT',
      `${where} did not finish loading within ${seconds} second${seconds === 1 ? '' : 's'}.`,
      { cause: error },
    );
  }

  const coded = findCause(error, (e): e is NodeJS.ErrnoException => typeof (e as { code?: unknown }).code === 'string');
  const code = coded?.code ?? '';
  let reason: string;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    reason = `the host name ${url.hostname} could not be found`;
  } else if (code === 'ECONNREFUSED') {
    reason = 'the server refused the connection';
  } else if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') {
    reason = 'the connection was closed unexpectedly';
  } else if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    reason = 'the server cannot be reached from here';
  } else if (code.startsWith('ERR_TLS') || code.includes('CERT') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    reason = `its TLS certificate could not be verified (${code})`;
  } else {
    reason = error instanceof Error ? error.message : String(error);
  }
  return new FetchPageError('NETWORK', `Could not load ${where}: ${reason}.`, { cause: error });
}

/** Looks through an error, its causes and AggregateError members. */
function findCause<T extends object>(error: unknown, test: (e: object) => e is T, depth = 0): T | undefined {
  if (depth > 8 || typeof error !== 'object' || error === null) return undefined;
  if (test(error)) return error;
  if (error instanceof AggregateError) {
    for (const member of error.errors) {
      const found = findCause(member, test, depth + 1);
      if (found) return found;
    }
  }
  return findCause((error as { cause?: unknown }).cause, test, depth + 1);
}

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Drops a body we will not read; the connection is closed, never reused. */
function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}
