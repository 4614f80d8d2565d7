// /widget.js and /widget/demo over HTTP: the script's budget (30 KB gzipped),
// its caching (ETag, 304) and compression on the wire (brotli or gzip, as the
// client accepts), and a demo page that escapes what it is given.
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WIDGET_LABELS } from '../src/widget/labels.ts';
import { BASE, createTestApp, type TestApp } from './utils/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const get = (path: string, headers: Record<string, string> = {}) => t.app.fetch(new Request(`${BASE}${path}`, { headers }));
const bytes = async (response: Response) => Buffer.from(await response.arrayBuffer());

describe('/widget.js', () => {
  test('is at most 30 KB gzipped, and what is served gzipped is exactly the script', async () => {
    const plain = await get('/widget.js', { 'Accept-Encoding': 'identity' });
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(plain.headers.get('content-encoding')).toBeNull();
    const script = await bytes(plain);
    expect(script.toString()).toContain('assistant-chat-widget');
    const gzipped = await get('/widget.js', { 'Accept-Encoding': 'gzip' });
    expect(gzipped.headers.get('content-encoding')).toBe('gzip');
    const wire = await bytes(gzipped);
    expect(gunzipSync(wire).equals(script)).toBe(true);
    expect(wire.length).toBeLessThanOrEqual(30 * 1024);
    // Whatever the server's compression level, the budget holds at the default one too.
    expect(gzipSync(script).length).toBeLessThanOrEqual(30 * 1024);
  });

  test('is compressed as the client prefers: brotli first among equals, gzip when br is refused, none when neither is accepted', async () => {
    const cases: Array<[string, string | null]> = [
      ['gzip, deflate, br, zstd', 'br'],
      ['gzip;q=1, br;q=0.5', 'gzip'],
      ['br;q=0, gzip', 'gzip'],
      ['*', 'br'],
      ['deflate', null],
      ['', null],
    ];
    for (const [accept, expected] of cases) {
      const response = await get('/widget.js', { 'Accept-Encoding': accept });
      expect(response.headers.get('content-encoding'), accept).toBe(expected);
      expect(response.headers.get('vary')).toContain('Accept-Encoding');
      const body = await bytes(response);
      const script = expected === 'br' ? brotliDecompressSync(body) : expected === 'gzip' ? gunzipSync(body) : body;
      expect(script.toString(), accept).toMatch(/^\/\*! assistant-gateway chat widget \*\//);
    }
  });

  test('is cacheable: an ETag per encoding, Cache-Control, and 304 Not Modified for a matching If-None-Match', async () => {
    const first = await get('/widget.js', { 'Accept-Encoding': 'br' });
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+-br"$/);
    expect(first.headers.get('cache-control')).toMatch(/public, max-age=\d+/);
    const again = await get('/widget.js', { 'Accept-Encoding': 'br', 'If-None-Match': etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    expect(again.headers.get('etag')).toBe(etag);
    // Another encoding is another representation: its own ETag, so a cached brotli body never answers a gzip client.
    const gzip = await get('/widget.js', { 'Accept-Encoding': 'gzip', 'If-None-Match': etag });
    expect(gzip.status).toBe(200);
    expect(gzip.headers.get('etag')).not.toBe(etag);
  });

  test('answers other methods with 405 and Allow', async () => {
    const response = await t.app.fetch(new Request(`${BASE}/widget.js`, { method: 'POST' }));
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
    expect((await response.json()).status_code).toBe(405);
  });

  test('has the same labels in every language it speaks', () => {
    const keys = Object.keys(WIDGET_LABELS.en).sort();
    expect(Object.keys(WIDGET_LABELS).sort()).toEqual(expect.arrayContaining(['de', 'en', 'es', 'fr']));
    for (const [language, labels] of Object.entries(WIDGET_LABELS)) expect(Object.keys(labels).sort(), language).toEqual(keys);
  });
});

describe('/widget/demo', () => {
  test('shows the widget tag for the client id and assistant given, escaped, under a CSP naming only its own origin', async () => {
    const response = await get(`/widget/demo?client_id=${t.org.clientId}&assistant_id=a"><script>alert(1)</script>`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toMatch(/script-src 'self'; connect-src 'self'; style-src 'self'/);
    const html = await response.text();
    expect(html).toContain(`<script src="/widget.js" data-client-id="${t.org.clientId}" data-assistant-id="a&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" async></script>`);
    expect(html).not.toContain('<script>alert(1)');
    // The tag to copy names the gateway in full.
    expect(html).toContain(`&lt;script src=&quot;${BASE}/widget.js&quot; data-client-id=&quot;${t.org.clientId}&quot;`);
  });

  test('without the parameters, asks for them in a form', async () => {
    const html = await (await get('/widget/demo')).text();
    expect(html).toContain('<form method="get" action="/widget/demo">');
    expect(html).toContain('name="client_id"');
    expect(html).not.toContain('<script');
  });
});
