// The API reference: the OpenAPI document at /api/v1/openapi.json and a page
// at /api/v1/docs that renders it with Scalar's API reference, whose browser
// bundle is served from its npm package (nothing is fetched from elsewhere,
// so the page works offline). Public, and free of any budget, like /healthz.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { AppError } from '../errors.ts';
import { errorResponse } from '../rest/envelope.ts';
import { DOCS_PATH, OPENAPI_PATH } from '../rest/handler.ts';
import type { Surface } from '../http/edge.ts';
import { openApiJson } from './document.ts';

export const DOCS_SCRIPT_PATH = `${DOCS_PATH}/scalar.js`;

/** The standalone browser build of @scalar/api-reference (its package.json's "browser" entry). */
const SCRIPT_FILE = fileURLToPath(new URL('browser/standalone.js', import.meta.resolve('@scalar/api-reference')));

/**
 * Scalar's options: the document, and nothing that reaches the internet (its
 * default fonts, its hosted AI agent, telemetry, the developer tools and the
 * buttons that offer Scalar's hosted SDK generation, which need scalar.com).
 */
const SCALAR_OPTIONS = {
  url: OPENAPI_PATH,
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  showDeveloperTools: 'never',
  customCss: '.explore-scalar, .generate-sdk-button { display: none !important; }',
};

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Assistant gateway API reference</title>
  </head>
  <body>
    <div id="app"></div>
    <noscript>This page needs JavaScript. The OpenAPI document itself is at <a href="${OPENAPI_PATH}">${OPENAPI_PATH}</a>.</noscript>
    <script src="${DOCS_SCRIPT_PATH}"></script>
    <script>Scalar.createApiReference('#app', ${JSON.stringify(SCALAR_OPTIONS)});</script>
  </body>
</html>
`;

type Asset = { body: Uint8Array<ArrayBuffer>; gzipped: Uint8Array<ArrayBuffer>; etag: string; type: string; cacheControl: string };

const compress = promisify(gzip);

async function asset(body: Uint8Array<ArrayBuffer>, type: string, cacheControl: string): Promise<Asset> {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, gzipped: new Uint8Array(await compress(body)), etag, type, cacheControl };
}

const encode = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));

/** Read (and compressed) on first use, then kept: the document and the bundle do not change while the process runs. */
const ASSETS: Record<string, () => Promise<Asset>> = {
  // Short-lived in caches: a new version of the server may change it.
  [OPENAPI_PATH]: () => asset(encode(openApiJson()), 'application/json; charset=utf-8', 'public, max-age=300'),
  [DOCS_PATH]: () => asset(encode(PAGE), 'text/html; charset=utf-8', 'public, max-age=3600'),
  // 4.8 MB, ~1.3 MB gzipped; revalidated by its ETag after a day.
  [DOCS_SCRIPT_PATH]: async () => asset(new Uint8Array(await readFile(SCRIPT_FILE)), 'text/javascript; charset=utf-8', 'public, max-age=86400'),
};
const loaded = new Map<string, Promise<Asset>>();

function pathOf(url: URL): string | null {
  const path = url.pathname.length > 1 && url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
  return path in ASSETS ? path : null;
}

export function docsSurface(): Surface {
  return {
    matches: (url) => pathOf(url) !== null,
    route: (_request, url) => pathOf(url)!,
    renderError: errorResponse,

    async serve(request, { url }) {
      const path = pathOf(url)!;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        const refusal = errorResponse(new AppError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${url.pathname}; use GET.`));
        refusal.headers.set('Allow', 'GET, HEAD');
        return refusal;
      }
      if (!loaded.has(path)) loaded.set(path, ASSETS[path]());
      const { body, gzipped, etag, type, cacheControl } = await loaded.get(path)!;
      const headers: Record<string, string> = { 'Content-Type': type, 'Cache-Control': cacheControl, ETag: etag, Vary: 'Accept-Encoding' };
      if (request.headers.get('if-none-match')?.split(/\s*,\s*/).includes(etag)) return new Response(null, { status: 304, headers });
      const wantsGzip = /\bgzip\b/.test(request.headers.get('accept-encoding') ?? '');
      const sent = wantsGzip ? gzipped : body;
      if (wantsGzip) headers['Content-Encoding'] = 'gzip';
      headers['Content-Length'] = String(sent.byteLength);
      return new Response(request.method === 'HEAD' ? null : sent, { status: 200, headers });
    },
  };
}
