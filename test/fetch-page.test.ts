// Fetching pages for the knowledge base: only http(s), only public addresses
// (checked on the address each connection dials, redirects included), with
// size, time and redirect limits.
//
// No test sends traffic anywhere but 127.0.0.1 and ::1. Refusals must happen
// before a connection: two local servers (127.0.0.1 and ::1) count every
// connection they get, and a tripwire on net.Socket#connect refuses, and
// records, any dial of an address that is not loopback, so even a broken
// fetcher could not reach a real private or public address from here.
import dns from 'node:dns';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { guardLookup } from '../src/knowledge/address-policy.ts';
import {
  FetchPageError,
  fetchPage,
  isPublicAddress,
  parseAllowHosts,
  type FetchPageOptions,
  type LookupFunction,
} from '../src/knowledge/fetch-page.ts';

// ---------------------------------------------------------------------------
// The tripwire: no socket of this test file may dial a non-loopback address.

const loopback = new net.BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
function isLoopback(address: string): boolean {
  const family = net.isIP(address);
  return family !== 0 && loopback.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

const tripwire = { dials: [] as string[], refused: [] as string[] };
const originalConnect = net.Socket.prototype.connect;

function installTripwire() {
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const first = args[0];
    const options = (Array.isArray(first) ? first[0] : first) as
      | { host?: string; path?: string; lookup?: LookupFunction }
      | undefined;
    if (options && typeof options === 'object' && !options.path) {
      const host = options.host ?? 'localhost';
      if (net.isIP(host) !== 0) {
        tripwire.dials.push(host);
        if (!isLoopback(host)) {
          tripwire.refused.push(host);
          process.nextTick(() => this.destroy(new Error(`test tripwire: refused to dial ${host}`)));
          return this;
        }
      } else {
        const inner = options.lookup ?? (dns.lookup as LookupFunction);
        options.lookup = (hostname, lookupOptions, callback) => {
          inner(hostname, lookupOptions, (err, result, family) => {
            if (err) return callback(err, result, family);
            const addresses = Array.isArray(result) ? result.map((a) => a.address) : [result];
            tripwire.dials.push(...addresses);
            const outside = addresses.filter((a) => !isLoopback(a));
            if (outside.length > 0) {
              tripwire.refused.push(...outside);
              return callback(new Error(`test tripwire: refused to dial ${outside.join(', ')}`), lookupOptions.all ? [] : '');
            }
            callback(null, result, family);
          });
        };
      }
    }
    return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof originalConnect;
}

// ---------------------------------------------------------------------------
// Two local page servers (127.0.0.1 and ::1) that count what reaches them.

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const routes = new Map<string, Handler>();
const seen = { connections: 0, requests: [] as string[] };

function pageServer(): Server {
  const server = createServer((req, res) => {
    seen.requests.push(req.url ?? '');
    const handler = routes.get((req.url ?? '').split('?')[0]);
    if (handler) handler(req, res);
    else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('no such page');
    }
  });
  server.on('connection', () => {
    seen.connections += 1;
  });
  return server;
}

const v4Server = pageServer();
const v6Server = pageServer();
let port = 0; // 127.0.0.1
let port6 = 0; // ::1

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

beforeAll(async () => {
  installTripwire();
  port = await listen(v4Server, '127.0.0.1');
  port6 = await listen(v6Server, '::1');
});

afterAll(async () => {
  net.Socket.prototype.connect = originalConnect;
  await Promise.all([close(v4Server), close(v6Server)]);
});

beforeEach(() => {
  routes.clear();
  seen.connections = 0;
  seen.requests = [];
  tripwire.dials = [];
  tripwire.refused = [];
});

afterEach(() => {
  // Whatever a test expects, nothing may have tried to leave the machine.
  expect(tripwire.refused).toEqual([]);
});

// ---------------------------------------------------------------------------
// Helpers.

const html = (body: string): Handler => (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(body);
};
const redirect = (location: string, status = 302): Handler => (_req, res) => {
  res.writeHead(status, { location });
  res.end();
};

/** A DNS lookup over a fixed table, recording the names asked for. */
function fakeLookup(table: Record<string, string[]>, calls: string[] = []): LookupFunction {
  return (hostname, options, callback) => {
    calls.push(hostname);
    const addresses = table[hostname.toLowerCase()];
    process.nextTick(() => {
      if (!addresses) {
        const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
        error.code = 'ENOTFOUND';
        callback(error, options.all ? [] : '');
        return;
      }
      const list = addresses.map((address) => ({ address, family: net.isIP(address) }));
      if (options.all) callback(null, list);
      else callback(null, list[0].address, list[0].family);
    });
  };
}

function opts(overrides: Partial<FetchPageOptions> = {}): FetchPageOptions {
  return { allowHosts: [], maxBytes: 1_000_000, timeoutMs: 5_000, maxRedirects: 5, ...overrides };
}

async function fetchError(url: string, options: FetchPageOptions): Promise<FetchPageError> {
  try {
    const page = await fetchPage(url, options);
    throw new Error(`expected ${url} to be refused, but it was fetched (${page.status} ${page.finalUrl})`);
  } catch (error) {
    if (!(error instanceof FetchPageError)) throw error;
    return error;
  }
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');

// ---------------------------------------------------------------------------

describe('isPublicAddress', () => {
  test.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '2606:4700:4700::1111',
    '[2001:4860:4860::8888]',
    '::ffff:8.8.8.8',
    // just outside the private and shared ranges
    '172.15.255.255',
    '172.32.0.1',
    '11.0.0.1',
    '192.169.0.1',
    '100.63.255.255',
    '100.128.0.1',
    '169.253.255.255',
  ])('calls %s a public address', (ip) => {
    expect(isPublicAddress(ip)).toBe(true);
  });

  test.each([
    // loopback, in every spelling a URL host accepts
    '127.0.0.1',
    '127.255.255.254',
    '127.1',
    '2130706433',
    '0x7f.1',
    '0x7f000001',
    '017700000001',
    '0177.0.0.1',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '[::ffff:127.0.0.1]',
    // unspecified
    '0.0.0.0',
    '0',
    '::',
    // private and shared
    '10.0.0.5',
    '10.255.255.255',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '100.64.0.1',
    '::ffff:10.0.0.1',
    '::ffff:a00:1',
    'fc00::1',
    'fd12:3456::1',
    // link-local, cloud metadata included
    '169.254.169.254',
    '::ffff:169.254.169.254',
    '2852039166',
    'fe80::1',
    'fe80::1%eth0',
    // multicast, broadcast, documentation, reserved, transition forms
    '224.0.0.1',
    'ff02::1',
    '255.255.255.255',
    '192.0.2.1',
    '198.51.100.7',
    '203.0.113.9',
    '2001:db8::1',
    '240.0.0.1',
    '198.18.0.1',
    '64:ff9b::a00:1',
    '2002:7f00:1::',
    '::127.0.0.1',
    '::7f00:1',
    '::8.8.8.8',
    'fec0::1',
    '4000::1',
  ])('calls %s not public', (ip) => {
    expect(isPublicAddress(ip)).toBe(false);
  });

  test.each(['', 'localhost', 'example.com', '127.0.0.1@8.8.8.8', '8.8.8.8:80', '1.2.3.4.5', '999.1.1.1', 'not an ip'])(
    'calls %j not public because it is not an address',
    (input) => {
      expect(isPublicAddress(input)).toBe(false);
    },
  );
});

describe('parseAllowHosts', () => {
  test('reads comma-separated names and addresses as canonical lower-case hosts', () => {
    expect(parseAllowHosts(' Wiki.Internal , 10.0.0.5,[::1], 0:0:0:0:0:0:0:1,,docs.example.com.')).toEqual([
      'wiki.internal',
      '10.0.0.5',
      '::1',
      '::1',
      'docs.example.com',
    ]);
  });

  test('reads an unset or empty variable as no allowed hosts', () => {
    expect(parseAllowHosts(undefined)).toEqual([]);
    expect(parseAllowHosts(' , ')).toEqual([]);
  });

  test.each(['wiki.internal:8080', 'http://wiki.internal', 'wiki.internal/path', 'user@wiki.internal'])(
    'refuses the entry %s so a mistake shows at startup',
    (entry) => {
      expect(() => parseAllowHosts(`ok.example, ${entry}`)).toThrow(/KNOWLEDGE_URL_ALLOW_HOSTS entry/);
    },
  );
});

describe('guardLookup', () => {
  test('hands back the first address when the caller asks for one, and refuses private ones', async () => {
    const lookup = guardLookup(fakeLookup({ 'public.test': ['8.8.8.8', '1.1.1.1'], 'mixed.test': ['8.8.8.8', '10.1.2.3'] }));
    const one = await new Promise<unknown[]>((resolve) =>
      lookup('public.test', { all: false }, (...args) => resolve(args)),
    );
    expect(one).toEqual([null, '8.8.8.8', 4]);
    const refused = await new Promise<Error | null>((resolve) => lookup('mixed.test', { all: false }, (err) => resolve(err)));
    expect(refused?.message).toMatch(/10\.1\.2\.3/);
  });
});

describe('fetchPage refuses addresses that are not public, before connecting', () => {
  const loopbackUrls = () => [
    `http://127.0.0.1:${port}/`,
    `http://127.0.0.2:${port}/`,
    `http://localhost:${port}/`,
    `http://LOCALHOST:${port}/`,
    `http://[::1]:${port6}/`,
    `http://[0:0:0:0:0:0:0:1]:${port6}/`,
    `http://[::ffff:127.0.0.1]:${port}/`,
    `http://[::ffff:7f00:1]:${port}/`,
    `http://2130706433:${port}/`,
    `http://0x7f.1:${port}/`,
    `http://017700000001:${port}/`,
    `http://127.1:${port}/`,
    `http://0.0.0.0:${port}/`,
    `http://[::]:${port6}/`,
  ];

  test('refuses every spelling of a loopback address, and no connection reaches the local servers', async () => {
    for (const url of loopbackUrls()) {
      const error = await fetchError(url, opts());
      expect(error.code, url).toBe('BLOCKED_ADDRESS');
    }
    expect(seen.connections).toBe(0);
    expect(seen.requests).toEqual([]);
    // Literal addresses are refused before a socket is even opened.
    expect(tripwire.dials).toEqual([]);
  });

  test.each([
    ['http://10.0.0.5/', 'a private address (10.0.0.5)'],
    ['http://10.255.255.254:8080/admin', 'a private address (10.255.255.254)'],
    ['http://172.16.0.1/', 'a private address (172.16.0.1)'],
    ['http://172.31.255.254/', 'a private address (172.31.255.254)'],
    ['http://192.168.1.1/', 'a private address (192.168.1.1)'],
    ['http://169.254.169.254/latest/meta-data/', 'a link-local address (169.254.169.254)'],
    ['http://[fe80::1]/', 'a link-local address (fe80::1)'],
    ['http://[fc00::1]/', 'a private address (fc00::1)'],
    ['http://[fd00:ec2::254]/', 'a private address (fd00:ec2::254)'],
    ['http://[::ffff:10.0.0.1]/', 'a private address (::ffff:a00:1)'],
    ['http://100.64.0.1/', 'a shared (carrier-grade NAT) address (100.64.0.1)'],
    ['http://0xa9fea9fe/', 'a link-local address (169.254.169.254)'],
    ['https://10.0.0.5/', 'a private address (10.0.0.5)'],
    ['https://[fe80::1]:8443/', 'a link-local address (fe80::1)'],
  ])('refuses %s without dialling it', async (url, words) => {
    const error = await fetchError(url, opts());
    expect(error.code).toBe('BLOCKED_ADDRESS');
    expect(error.message).toContain(`resolves to ${words}`);
    expect(tripwire.dials).toEqual([]);
  });

  test('explains the refusal and names the setting that allows the host', async () => {
    const error = await fetchError('http://10.0.0.5/', opts());
    expect(error).toBeInstanceOf(FetchPageError);
    expect(error.message).toBe(
      'http://10.0.0.5/ resolves to a private address (10.0.0.5), which the knowledge base may not fetch; list the host in KNOWLEDGE_URL_ALLOW_HOSTS to allow it.',
    );
  });

  test('refuses a host name that resolves to a private address', async () => {
    const calls: string[] = [];
    const lookup = fakeLookup({ 'intranet.test': ['10.0.0.5'] }, calls);
    const error = await fetchError('http://intranet.test/wiki', opts({ lookup }));
    expect(error.code).toBe('BLOCKED_ADDRESS');
    expect(error.message).toContain('http://intranet.test/wiki resolves to a private address (10.0.0.5)');
    expect(calls).toEqual(['intranet.test']);
  });

  test('refuses a host name that resolves to loopback, and the local server gets no connection', async () => {
    const lookup = fakeLookup({ 'sneaky.test': ['127.0.0.1'] });
    const error = await fetchError(`http://sneaky.test:${port}/`, opts({ lookup }));
    expect(error.code).toBe('BLOCKED_ADDRESS');
    expect(seen.connections).toBe(0);
  });

  test('refuses a host name when any one of its addresses is private, even after a public one', async () => {
    const lookup = fakeLookup({ 'mixed.test': ['8.8.8.8', '2001:4860:4860::8888', '127.0.0.1'] });
    const error = await fetchError(`http://mixed.test:${port}/`, opts({ lookup }));
    expect(error.code).toBe('BLOCKED_ADDRESS');
    expect(error.message).toContain('(127.0.0.1)');
    expect(tripwire.dials).toEqual([]);
    expect(seen.connections).toBe(0);
  });

  test('checks the answer the connection dials, so a rebinding name cannot pass one lookup and use another', async () => {
    // First answer public, every later answer loopback: a fetcher that checked
    // with one lookup and connected with another would reach the local server.
    const calls: string[] = [];
    let answered = 0;
    const rebinding: LookupFunction = (hostname, options, callback) => {
      calls.push(hostname);
      const address = answered++ === 0 ? '8.8.8.8' : '127.0.0.1';
      fakeLookup({ [hostname]: [address] })(hostname, options, callback);
    };
    const error = await fetchError(`http://rebind.test:${port}/`, opts({ lookup: rebinding }));
    // The one lookup made is the socket's own: its public answer passed the
    // policy and went to the socket, where the test tripwire stopped it.
    expect(calls).toEqual(['rebind.test']);
    expect(tripwire.refused).toEqual(['8.8.8.8']);
    expect(error.code).toBe('NETWORK');
    expect(seen.connections).toBe(0);
    tripwire.refused = [];
  });

  test('refuses a redirect from an allowed host to a loopback name it does not allow', async () => {
    routes.set('/go', redirect(`http://localhost:${port}/secret`));
    routes.set('/secret', html('<p>internal</p>'));
    const error = await fetchError(`http://127.0.0.1:${port}/go`, opts({ allowHosts: ['127.0.0.1'] }));
    expect(error.code).toBe('BLOCKED_ADDRESS');
    expect(error.message).toContain(
      `http://localhost:${port}/secret (reached by a redirect from http://127.0.0.1:${port}/go) resolves to a loopback address (127.0.0.1)`,
    );
    expect(seen.requests).toEqual(['/go']);
    expect(seen.connections).toBe(1);
  });

  test('refuses a redirect from an allowed host to the cloud metadata address', async () => {
    routes.set('/go', redirect('http://169.254.169.254/latest/meta-data/iam/security-credentials/'));
    const error = await fetchError(`http://127.0.0.1:${port}/go`, opts({ allowHosts: ['127.0.0.1'] }));
    expect(error.code).toBe('BLOCKED_ADDRESS');
    expect(error.message).toContain('a link-local address (169.254.169.254)');
    expect(tripwire.dials).toEqual(['127.0.0.1']); // the first hop only
  });

  test('refuses a redirect to a host name that resolves to a private address', async () => {
    routes.set('/go', redirect('https://db.internal.test/'));
    const lookup = fakeLookup({ 'pages.test': ['127.0.0.1'], 'db.internal.test': ['192.168.10.20'] });
    const error = await fetchError(`http://pages.test:${port}/go`, opts({ allowHosts: ['pages.test'], lookup }));
    expect(error.code).toBe('BLOCKED_ADDRESS');
    expect(error.message).toContain('a private address (192.168.10.20)');
  });

  test('does not extend an allowed name to another name with the same address', async () => {
    routes.set('/', html('<p>hi</p>'));
    const lookup = fakeLookup({ 'pages.test': ['127.0.0.1'], 'other.test': ['127.0.0.1'] });
    const error = await fetchError(`http://other.test:${port}/`, opts({ allowHosts: ['pages.test'], lookup }));
    expect(error.code).toBe('BLOCKED_ADDRESS');
    expect(seen.connections).toBe(0);
  });

  test('does not extend an allowed address to its other spellings that are different addresses', async () => {
    const error = await fetchError(`http://127.0.0.2:${port}/`, opts({ allowHosts: ['127.0.0.1'] }));
    expect(error.code).toBe('BLOCKED_ADDRESS');
    expect(seen.connections).toBe(0);
  });
});

describe('fetchPage refuses URLs it will not fetch', () => {
  test.each(['ftp://example.com/file', 'file:///etc/passwd', 'javascript:alert(1)', 'data:text/html,<p>x</p>', 'gopher://127.0.0.1:70/'])(
    'refuses %s because only http and https are fetched',
    async (url) => {
      const error = await fetchError(url, opts({ allowHosts: ['127.0.0.1'] }));
      expect(error.code).toBe('INVALID_URL');
      expect(error.message).toMatch(/only http and https/);
    },
  );

  test.each(['', 'not a url', 'http://', '//example.com/page'])('refuses %j as not a web address', async (url) => {
    const error = await fetchError(url, opts());
    expect(error.code).toBe('INVALID_URL');
  });

  test('refuses a URL carrying a user name and password, without connecting', async () => {
    const error = await fetchError(`http://admin:secret@127.0.0.1:${port}/`, opts({ allowHosts: ['127.0.0.1'] }));
    expect(error.code).toBe('INVALID_URL');
    expect(error.message).not.toContain('secret');
    expect(seen.connections).toBe(0);
  });

  test('refuses a redirect to a file: URL', async () => {
    routes.set('/go', redirect('file:///etc/passwd'));
    const error = await fetchError(`http://127.0.0.1:${port}/go`, opts({ allowHosts: ['127.0.0.1'] }));
    expect(error.code).toBe('INVALID_URL');
    expect(error.message).toContain('file:');
  });
});

describe('fetchPage on allowed hosts', () => {
  test('fetches a page from an allowed address with its bytes, content type, status and URL', async () => {
    routes.set('/page', html('<h1>Hello</h1>'));
    const page = await fetchPage(`http://127.0.0.1:${port}/page?x=1#section`, opts({ allowHosts: ['127.0.0.1'] }));
    expect(page).toEqual({
      finalUrl: `http://127.0.0.1:${port}/page?x=1`,
      contentType: 'text/html; charset=utf-8',
      body: expect.any(Uint8Array),
      status: 200,
    });
    expect(text(page.body)).toBe('<h1>Hello</h1>');
    expect(seen.requests).toEqual(['/page?x=1']);
  });

  test('matches allowed host names case-insensitively, resolving them with the given lookup', async () => {
    routes.set('/', html('ok'));
    const lookup = fakeLookup({ 'pages.test': ['127.0.0.1'] });
    const page = await fetchPage(`http://PAGES.Test:${port}/`, opts({ allowHosts: ['Pages.TEST'], lookup }));
    expect(text(page.body)).toBe('ok');
  });

  test('allows the IPv6 loopback when it is listed, however the URL spells it', async () => {
    routes.set('/', html('six'));
    for (const url of [`http://[::1]:${port6}/`, `http://[0:0:0:0:0:0:0:1]:${port6}/`]) {
      const page = await fetchPage(url, opts({ allowHosts: ['::1'] }));
      expect(text(page.body), url).toBe('six');
    }
  });

  test('uses the user agent it is given', async () => {
    let agent = '';
    routes.set('/', (req, res) => {
      agent = req.headers['user-agent'] ?? '';
      html('ok')(req, res);
    });
    await fetchPage(`http://127.0.0.1:${port}/`, opts({ allowHosts: ['127.0.0.1'], userAgent: 'KnowledgeBot/2' }));
    expect(agent).toBe('KnowledgeBot/2');
  });

  test('follows redirects, resolving a relative Location against the current URL', async () => {
    routes.set('/a/b', redirect('../c?from=b', 301));
    routes.set('/c', redirect(`http://127.0.0.1:${port}/d`, 307));
    routes.set('/d', html('done'));
    const page = await fetchPage(`http://127.0.0.1:${port}/a/b`, opts({ allowHosts: ['127.0.0.1'] }));
    expect(page.finalUrl).toBe(`http://127.0.0.1:${port}/d`);
    expect(text(page.body)).toBe('done');
    expect(seen.requests).toEqual(['/a/b', '/c?from=b', '/d']);
  });

  test('gives up after maxRedirects redirects', async () => {
    routes.set('/loop', redirect('/loop'));
    const error = await fetchError(`http://127.0.0.1:${port}/loop`, opts({ allowHosts: ['127.0.0.1'], maxRedirects: 3 }));
    expect(error.code).toBe('TOO_MANY_REDIRECTS');
    expect(error.message).toContain('more than 3 times');
    expect(seen.requests).toHaveLength(4);
  });

  test('follows no redirect at all when maxRedirects is 0', async () => {
    routes.set('/moved', redirect('/page'));
    routes.set('/page', html('x'));
    const error = await fetchError(`http://127.0.0.1:${port}/moved`, opts({ allowHosts: ['127.0.0.1'], maxRedirects: 0 }));
    expect(error.code).toBe('TOO_MANY_REDIRECTS');
    expect(seen.requests).toEqual(['/moved']);
  });

  test.each([404, 410, 500])('reports HTTP %i as an HTTP error with its status', async (status) => {
    routes.set('/broken', (_req, res) => {
      res.writeHead(status, { 'content-type': 'text/html' });
      res.end('<p>error page</p>');
    });
    const error = await fetchError(`http://127.0.0.1:${port}/broken`, opts({ allowHosts: ['127.0.0.1'] }));
    expect(error.code).toBe('HTTP_ERROR');
    expect(error.message).toContain(`HTTP ${status}`);
  });

  test('reports a redirect without a Location as an HTTP error', async () => {
    routes.set('/nowhere', (_req, res) => {
      res.writeHead(302);
      res.end();
    });
    const error = await fetchError(`http://127.0.0.1:${port}/nowhere`, opts({ allowHosts: ['127.0.0.1'] }));
    expect(error.code).toBe('HTTP_ERROR');
  });

  test.each(['application/json', 'image/png', 'application/pdf', 'text/csv', 'application/octet-stream', null])(
    'refuses content of type %s',
    async (type) => {
      routes.set('/thing', (_req, res) => {
        res.writeHead(200, type === null ? {} : { 'content-type': type });
        res.end('{"a":1}');
      });
      const error = await fetchError(`http://127.0.0.1:${port}/thing`, opts({ allowHosts: ['127.0.0.1'] }));
      expect(error.code).toBe('UNSUPPORTED_CONTENT');
      expect(error.message).toContain('text/html, application/xhtml+xml, text/plain, text/markdown');
    },
  );

  test.each(['text/html', 'Application/XHTML+XML; charset=UTF-8', 'text/plain;charset=iso-8859-1', 'text/markdown; variant=GFM'])(
    'accepts content of type %s and reports the header as sent',
    async (type) => {
      routes.set('/doc', (_req, res) => {
        res.writeHead(200, { 'content-type': type });
        res.end('# Title');
      });
      const page = await fetchPage(`http://127.0.0.1:${port}/doc`, opts({ allowHosts: ['127.0.0.1'] }));
      expect(page.contentType).toBe(type);
      expect(text(page.body)).toBe('# Title');
    },
  );

  test('refuses a body whose declared length is over the limit without waiting for it', async () => {
    routes.set('/huge', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'content-length': String(50_000_000) });
      res.write('<p>'); // and then nothing: reading the body would hang until the deadline
    });
    const started = Date.now();
    const error = await fetchError(`http://127.0.0.1:${port}/huge`, opts({ allowHosts: ['127.0.0.1'], maxBytes: 1_000 }));
    expect(error.code).toBe('TOO_LARGE');
    expect(error.message).toContain('1,000 bytes');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  test('stops reading a streamed body as soon as it passes the limit', async () => {
    let written = 0;
    const closed = new Promise<void>((resolve) => {
      routes.set('/stream', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' }); // chunked, no length
        const chunk = 'x'.repeat(1024);
        const timer = setInterval(() => {
          if (written >= 5_000_000) return clearInterval(timer);
          res.write(chunk);
          written += chunk.length;
        }, 2);
        res.on('close', () => {
          clearInterval(timer);
          resolve();
        });
      });
    });
    const error = await fetchError(`http://127.0.0.1:${port}/stream`, opts({ allowHosts: ['127.0.0.1'], maxBytes: 20_000 }));
    expect(error.code).toBe('TOO_LARGE');
    await closed; // the fetcher hung up on the server
    expect(written).toBeLessThan(5_000_000);
  });

  test('counts the limit on the decompressed size of a gzip body, and decodes small ones', async () => {
    const bomb = gzipSync(Buffer.alloc(2_000_000, 'a'));
    expect(bomb.length).toBeLessThan(10_000);
    routes.set('/bomb', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip', 'content-length': bomb.length });
      res.end(bomb);
    });
    const small = gzipSync(Buffer.from('<p>compressed</p>'));
    routes.set('/small', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' });
      res.end(small);
    });
    const options = opts({ allowHosts: ['127.0.0.1'], maxBytes: 100_000 });
    const error = await fetchError(`http://127.0.0.1:${port}/bomb`, options);
    expect(error.code).toBe('TOO_LARGE');
    const page = await fetchPage(`http://127.0.0.1:${port}/small`, options);
    expect(text(page.body)).toBe('<p>compressed</p>');
  });

  test('times out a server that never answers', async () => {
    routes.set('/silent', () => {});
    const started = Date.now();
    const error = await fetchError(`http://127.0.0.1:${port}/silent`, opts({ allowHosts: ['127.0.0.1'], timeoutMs: 300 }));
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toContain('within 0.3 seconds');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  test('times out a body that keeps trickling past the overall deadline', async () => {
    routes.set('/drip', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('.'), 50);
      res.on('close', () => clearInterval(timer));
    });
    const started = Date.now();
    const error = await fetchError(`http://127.0.0.1:${port}/drip`, opts({ allowHosts: ['127.0.0.1'], timeoutMs: 400 }));
    expect(error.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  test('counts the deadline across redirects rather than per hop', async () => {
    const slowRedirect: Handler = (_req, res) => {
      setTimeout(() => redirect('/slow2')(_req, res), 250);
    };
    routes.set('/slow1', slowRedirect);
    routes.set('/slow2', (req, res) => setTimeout(() => html('late')(req, res), 250));
    const error = await fetchError(`http://127.0.0.1:${port}/slow1`, opts({ allowHosts: ['127.0.0.1'], timeoutMs: 400 }));
    expect(error.code).toBe('TIMEOUT');
  });

  test('reports a refused connection as a network error', async () => {
    const spare = createServer();
    const closedPort = await listen(spare, '127.0.0.1');
    await close(spare);
    const error = await fetchError(`http://127.0.0.1:${closedPort}/`, opts({ allowHosts: ['127.0.0.1'] }));
    expect(error.code).toBe('NETWORK');
    expect(error.message).toContain('refused the connection');
  });

  test('reports a host name that does not resolve as a network error', async () => {
    const error = await fetchError('http://missing.test/', opts({ lookup: fakeLookup({}) }));
    expect(error.code).toBe('NETWORK');
    expect(error.message).toContain('missing.test could not be found');
  });
});
