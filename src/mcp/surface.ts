// The MCP server at /mcp (Streamable HTTP, the official SDK's web-standard
// transport), for agents and tools that call MCP servers. Stateless: every
// POST carries its JSON-RPC message and gets its JSON answer, with a server
// built for that request and the caller's organization, so any instance can
// answer any request and nothing is kept between them. There is no stream to
// open with GET (405, which the protocol allows) and no session to DELETE.
// Credentials are the API key, as headers (X-API-Key/X-API-Secret) or as
// "Authorization: Bearer CLIENT_ID:CLIENT_SECRET"; anything else is a 401.
import packageJson from '../../package.json' with { type: 'json' };
import { AppError } from '../errors.ts';
import { admitApiKey } from '../http/api-key-only.ts';
import type { Surface } from '../http/edge.ts';
import type { Logger } from '../log.ts';
import { jsonResponse } from '../rest/envelope.ts';
import type { Services } from '../services/services.ts';

/**
 * The SDK, loaded on the first request to /mcp: importing it costs 110-150 ms
 * of CPU on top of the rest of the app (its JSON-schema validators, among
 * others), which a gateway nobody asks over MCP need not spend at every start.
 */
let sdk: Promise<[typeof import('./tools.ts'), typeof import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js')]> | null = null;
const loadSdk = () => (sdk ??= Promise.all([import('./tools.ts'), import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js')]));

export const MCP_PATH = '/mcp';
const HOW = 'as X-API-Key and X-API-Secret headers, or as "Authorization: Bearer CLIENT_ID:CLIENT_SECRET"';
/** JSON-RPC's code for an error of the server outside any method (the SDK answers transport refusals with it). */
const SERVER_ERROR = -32000;

/** A refusal before any JSON-RPC message was handled, with its HTTP status and headers (Retry-After). */
export function jsonRpcErrorResponse(error: AppError): Response {
  const { status, headers } = error.extensions.http;
  return jsonResponse({ jsonrpc: '2.0', error: { code: SERVER_ERROR, message: error.message }, id: null }, status, headers);
}

export function mcpSurface({ services, bodyMaxBytes, logger }: { services: Services; bodyMaxBytes: number; logger: Logger }): Surface {
  return {
    matches: (url) => url.pathname === MCP_PATH || url.pathname === `${MCP_PATH}/`,
    route: () => MCP_PATH,
    renderError: jsonRpcErrorResponse,

    async serve(request, { requestId }, admit) {
      if (request.method !== 'POST') {
        // Answered before admission: it costs no budget.
        const refusal = jsonRpcErrorResponse(
          new AppError('METHOD_NOT_ALLOWED', `${request.method} is not served at ${MCP_PATH}: this MCP server is stateless; send every message with POST.`),
        );
        refusal.headers.set('Allow', 'POST');
        return refusal;
      }
      const viewer = await admitApiKey(admit, HOW);
      const [{ createMcpServer }, { WebStandardStreamableHTTPServerTransport }] = await loadSdk();
      const server = createMcpServer({ services, viewer, requestId, version: packageJson.version, logger });
      // JSON answers: a tool's result comes whole, and the request ends with it.
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
        maxRequestBodySize: bodyMaxBytes,
      });
      await server.connect(transport);
      // A client that leaves mid-call stops its tools: closing the server aborts their signals (a reply being generated stops).
      const leave = () => void server.close();
      request.signal.addEventListener('abort', leave, { once: true });
      try {
        return await transport.handleRequest(request);
      } finally {
        request.signal.removeEventListener('abort', leave);
        await server.close();
      }
    },
  };
}
