// GraphQL over HTTP at /graphql (queries, mutations, SSE subscriptions, and
// GraphiQL in a browser), served by Yoga once the edge has admitted the request.
import { AppError } from '../errors.ts';
import { declaredWithin, readBytes } from '../rest/body.ts';
import { jsonResponse } from '../rest/envelope.ts';
import { GRAPHQL_PATH, type YogaServer } from '../yoga.ts';
import type { Surface } from './edge.ts';

/** A refusal as a GraphQL response: the error in `errors`, with its HTTP status and headers. */
export function graphqlErrorResponse(error: AppError): Response {
  const { status, headers } = error.extensions.http;
  return jsonResponse({ errors: [{ message: error.message, extensions: { code: error.extensions.code } }] }, status, headers);
}

export function graphqlSurface({ yoga, bodyMaxBytes, uploadMaxBytes }: { yoga: YogaServer; bodyMaxBytes: number; uploadMaxBytes: number }): Surface {
  /**
   * The request with a body Yoga may read whole: one that declares a length
   * within the limit as it is; a chunked one (no length declared; Yoga would
   * read any size) read here within the limit. Multipart requests (file
   * uploads) may be as large as an upload.
   */
  async function bounded(request: Request): Promise<Request> {
    if (!request.body) return request;
    const multipart = /^multipart\/form-data/i.test(request.headers.get('content-type') ?? '');
    const limit = multipart ? uploadMaxBytes + 64 * 1024 : bodyMaxBytes;
    if (declaredWithin(request, limit)) return request;
    const body = await readBytes(request, limit);
    // Rebuilt from parts: the node adapter's Request is not one that the global Request accepts as input.
    return new Request(request.url, { method: request.method, headers: request.headers, body, signal: request.signal });
  }

  return {
    matches: (url) => url.pathname === GRAPHQL_PATH,
    route: () => GRAPHQL_PATH,
    renderError: graphqlErrorResponse,

    async serve(request, _context, admit) {
      const edge = await admit();
      const response = await yoga.fetch(await bounded(request), edge);
      if (response.headers.get('content-type')?.startsWith('text/html')) {
        // GraphiQL's page is large and never changes between requests of one version.
        response.headers.set('Cache-Control', 'public, max-age=3600');
      }
      return response;
    },
  };
}
