// The embeddable chat widget's static routes: /widget.js (built once per
// process from src/widget, compressed with brotli or gzip as the client
// accepts, with an ETag per encoding and a short cache lifetime, since the
// tag's URL carries no version) and /widget/demo, a blank page that shows the
// widget for a client id and an assistant. Neither counts against a budget.
import fresh from 'fresh';
import Negotiator from 'negotiator';
import { AppError } from '../errors.ts';
import { errorResponse } from '../rest/envelope.ts';
import { buildWidgetBundle, type WidgetBundle } from '../widget/bundle.ts';
import type { Surface } from './edge.ts';

export const WIDGET_PATH = '/widget.js';
export const DEMO_PATH = '/widget/demo';

/** Browsers revalidate within five minutes (a cheap 304 with the ETag), so a new release reaches pages quickly. */
const CACHE_CONTROL = 'public, max-age=300, stale-while-revalidate=86400';
const ENCODINGS = ['br', 'gzip', 'identity'];

/**
 * The encoding to answer with: the client's highest q-value, brotli first among
 * equals (smaller than gzip), identity when it accepts neither.
 */
function preferredEncoding(acceptEncoding: string | null): string | undefined {
  const negotiator = new Negotiator({ headers: { 'accept-encoding': acceptEncoding ?? undefined } });
  // negotiator 1.x takes the server's order for ties; its type definitions predate that option.
  const encoding = negotiator.encoding as (available: string[], options: { preferred: string[] }) => string | undefined;
  return encoding.call(negotiator, ENCODINGS, { preferred: ENCODINGS });
}

const isDemo = (pathname: string) => pathname === DEMO_PATH || pathname === `${DEMO_PATH}/`;

/** Text made safe for HTML, in element content and in quoted attributes alike. */
const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);

/** The demo page names only its own origin in its CSP: the widget needs nothing else (no inline script or style). */
const DEMO_CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** `origin` is the gateway's as the browser reached it, for the tag a site would copy. */
function demoPage(query: URLSearchParams, origin: string): string {
  const value = (name: string) => query.get(name)?.trim() ?? '';
  const clientId = value('client_id');
  const assistantId = value('assistant_id');
  const optional = ['locale', 'theme', 'user_token']
    .filter((name) => value(name))
    .map((name) => ` data-${name.replace('_', '-')}="${escapeHtml(value(name))}"`)
    .join('');
  const field = (name: string, label: string, current: string) =>
    `<p><label>${label}<br><input name="${name}" value="${escapeHtml(current)}" size="44" required></label></p>`;
  const body =
    clientId && assistantId
      ? `<h1>Chat widget demo</h1>
<p>The chat button in the corner is the widget, as a page embeds it with this tag:</p>
<pre><code>${escapeHtml(`<script src="${origin}${WIDGET_PATH}" data-client-id="${clientId}" data-assistant-id="${assistantId}" async></script>`)}</code></pre>
<p>With allowed origins set for the organization, this page's origin must be one of them.</p>
<script src="${WIDGET_PATH}" data-client-id="${escapeHtml(clientId)}" data-assistant-id="${escapeHtml(assistantId)}"${optional} async></script>`
      : `<h1>Chat widget demo</h1>
<p>Give the organization's public client id and an active assistant's id to see the widget on this page.</p>
<form method="get" action="${DEMO_PATH}">
${field('client_id', 'Client id (cid_…)', clientId)}
${field('assistant_id', 'Assistant id', assistantId)}
<p><button type="submit">Show the widget</button></p>
</form>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chat widget demo</title>
<link rel="icon" href="data:,">
</head>
<body>
${body}
</body>
</html>
`;
}

export function widgetRoutes(): Surface {
  let bundle: WidgetBundle | undefined;
  // Built on the first request rather than at start: a gateway nobody embeds pays nothing.
  const currentBundle = () => (bundle ??= buildWidgetBundle());

  function widgetScript(request: Request): Response {
    const { source, gzip, brotli, hash } = currentBundle();
    const encoding = preferredEncoding(request.headers.get('accept-encoding'));
    const [body, etag, contentEncoding] =
      encoding === 'br' ? [brotli, `"${hash}-br"`, 'br'] : encoding === 'gzip' ? [gzip, `"${hash}-gz"`, 'gzip'] : [source, `"${hash}"`, null];
    const headers: Record<string, string> = {
      'Content-Type': 'text/javascript; charset=utf-8',
      'Cache-Control': CACHE_CONTROL,
      ETag: etag,
      Vary: 'Accept-Encoding',
      'X-Content-Type-Options': 'nosniff',
      // Pages that isolate themselves (Cross-Origin-Embedder-Policy) may still load it.
      'Cross-Origin-Resource-Policy': 'cross-origin',
    };
    if (fresh({ 'if-none-match': request.headers.get('if-none-match') ?? undefined }, { etag })) {
      return new Response(null, { status: 304, headers });
    }
    if (contentEncoding) headers['Content-Encoding'] = contentEncoding;
    headers['Content-Length'] = String(body.length);
    return new Response(request.method === 'HEAD' ? null : new Uint8Array(body), { status: 200, headers });
  }

  return {
    matches: (url) => url.pathname === WIDGET_PATH || isDemo(url.pathname),
    route: (_request, url) => (url.pathname === WIDGET_PATH ? WIDGET_PATH : DEMO_PATH),
    renderError: errorResponse,

    async serve(request, { url }) {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        const refusal = errorResponse(new AppError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${url.pathname}; use GET.`));
        refusal.headers.set('Allow', 'GET, HEAD');
        return refusal;
      }
      if (url.pathname === WIDGET_PATH) return widgetScript(request);
      return new Response(request.method === 'HEAD' ? null : demoPage(url.searchParams, url.origin), {
        status: 200,
        headers: {
          'Content-Type': 'text/html; charset=utf-8',
          'Content-Security-Policy': DEMO_CSP,
          'Cache-Control': 'no-store',
          'X-Content-Type-Options': 'nosniff',
          'Referrer-Policy': 'no-referrer',
        },
      });
    },
  };
}
