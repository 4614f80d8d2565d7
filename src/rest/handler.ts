// Serves /api/v1: finds the route, reads the body, runs the route's GraphQL
// operation through the same execution path as /graphql, and wraps the result
// in the documented envelope.
import type { ExecutionResult } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import type { Surface } from '../http/edge.ts';
import type { YogaServer } from '../yoga.ts';
import { yogaOperations } from './yoga-bridge.ts';
import { readJsonBody, readMultipartBody } from './body.ts';
import { errorResponse, errorsResponse, failure, jsonResponse, success } from './envelope.ts';
import { eventStreamResponse } from './event-stream.ts';
import { ndjsonResponse } from './ndjson.ts';
import { routes, type Method, type Route } from './routes.ts';

export const REST_PREFIX = '/api/v1';
/** The API's reference: the OpenAPI document, and a page that renders it (src/openapi/surface.ts serves both). */
export const OPENAPI_PATH = `${REST_PREFIX}/openapi.json`;
export const DOCS_PATH = `${REST_PREFIX}/docs`;

/** The 404 of a path nothing serves: where the list of paths is. */
export const unknownPath = (method: string, path: string) =>
  `There is no endpoint ${method} ${path}; every path is listed at ${DOCS_PATH} (OpenAPI: ${OPENAPI_PATH}).`;

/** Runs GraphQL documents through Yoga's pipeline with the request's context. */
export type Operations = {
  execute(document: TypedDocumentNode<any, any>, variables: Record<string, unknown>): Promise<ExecutionResult>;
  subscribe(
    document: TypedDocumentNode<any, any>,
    variables: Record<string, unknown>,
  ): Promise<ExecutionResult | AsyncIterableIterator<ExecutionResult>>;
};

const wantsEventStream = (request: Request) => /\btext\/event-stream\b/.test(request.headers.get('accept') ?? '');

type Match = { route: Route; params: Record<string, string> } | { allowed: Method[] } | null;

const segments = (path: string) => path.split('/').filter(Boolean);

const compiled = routes.map((route) => ({ route, parts: segments(route.path) }));

function match(method: string, path: string): Match {
  const parts = segments(path);
  const allowed: Method[] = [];
  for (const { route, parts: pattern } of compiled) {
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const fits = pattern.every((segment, i) => {
      if (segment.startsWith(':')) {
        try {
          params[segment.slice(1)] = decodeURIComponent(parts[i]);
          return true;
        } catch {
          return false;
        }
      }
      return segment === parts[i];
    });
    if (!fits) continue;
    if (route.method === method) return { route, params };
    allowed.push(route.method);
  }
  return allowed.length > 0 ? { allowed } : null;
}

/**
 * Answers with server-sent events, unless the operation fails before its first
 * event: then the client gets the plain JSON error with its status (404, 422,
 * 503...), as without streaming.
 */
async function stream(request: Request, route: Route, document: TypedDocumentNode<any, any>, variables: Record<string, unknown>, operations: Operations) {
  const results = await operations.subscribe(document, variables);
  if (!(Symbol.asyncIterator in results)) return errorsResponse(results.errors ?? [{ message: 'No result' }]);
  // The stored user message comes first, then the reply's start; whether the model answers is
  // known only at the next event, so the start is held back until then.
  const held: ExecutionResult[] = [];
  let first = await results.next();
  for (;;) {
    if (first.done || first.value.errors?.length) break;
    const kind = (first.value.data as any)?.result?.__typename;
    if (kind !== 'MessageReceived' && kind !== 'MessageStarted') break;
    if (kind === 'MessageStarted') held.push(first.value);
    first = await results.next();
  }
  // Nothing to send: a resumed reply whose last event the client already has (204 also tells an EventSource not to reconnect).
  if (first.done) return new Response(null, { status: 204 });
  if (first.value.errors?.length) {
    await results.return?.();
    return errorsResponse(first.value.errors);
  }
  const { status, detail } = route.reply({ result: null });
  return eventStreamResponse([...held, first.value] as never, results as never, { status, detail }, request.signal);
}

/**
 * Streams a subscription's results as newline-delimited JSON, unless it fails
 * before its first result: then the client gets the plain JSON error (422...).
 */
async function ndjsonExport(document: TypedDocumentNode<any, any>, variables: Record<string, unknown>, operations: Operations, filename: string, signal: AbortSignal) {
  const results = await operations.subscribe(document, variables);
  if (!(Symbol.asyncIterator in results)) return errorsResponse(results.errors ?? [{ message: 'No result' }]);
  const first = await results.next();
  if (!first.done && first.value.errors?.length) {
    await results.return?.();
    return errorsResponse(first.value.errors);
  }
  return ndjsonResponse(first as never, results as never, filename, signal);
}

/** The REST API under /api/v1, as a surface of the edge. */
export function restSurface({ yoga, bodyMaxBytes, uploadMaxBytes }: { yoga: YogaServer; bodyMaxBytes: number; uploadMaxBytes: number }): Surface {
  const readBody = (request: Request, route: Route) =>
    route.body === 'multipart'
      ? readMultipartBody(request, uploadMaxBytes)
      : route.body
        ? readJsonBody(request, bodyMaxBytes, { optional: route.body === 'optional' })
        : {};

  /** The route for a request, or the 404/405 that answers it. */
  function resolve(request: Request, url: URL): { route: Route; params: Record<string, string> } | Response {
    const found = match(request.method, url.pathname.slice(REST_PREFIX.length));
    if (found === null) {
      return jsonResponse(
        failure(404, unknownPath(request.method, url.pathname)),
        404,
      );
    }
    if ('allowed' in found) {
      const allow = [...new Set(found.allowed)].join(', ');
      return jsonResponse(failure(405, `${request.method} is not allowed on ${url.pathname}; use ${allow}.`), 405, { Allow: allow });
    }
    return found;
  }

  return {
    matches: (url) => url.pathname === REST_PREFIX || url.pathname.startsWith(`${REST_PREFIX}/`),
    route(request, url) {
      const found = match(request.method, url.pathname.slice(REST_PREFIX.length));
      return found && 'route' in found ? `${REST_PREFIX}${found.route.path}` : `${REST_PREFIX} (no route)`;
    },
    renderError: errorResponse,

    async serve(request, { url }, admit) {
      // An unknown path is answered before admission: it costs no budget.
      const resolved = resolve(request, url);
      if (resolved instanceof Response) return resolved;
      const operations = yogaOperations(yoga, request, await admit());
      const { route, params } = resolved;
      const body = await readBody(request, route);
      const variables = route.variables({ params, query: url.searchParams, body, headers: request.headers });
      if (route.streamDocument && wantsEventStream(request)) return await stream(request, route, route.streamDocument, variables, operations);
      if (!route.document) {
        return jsonResponse(failure(406, `${url.pathname} answers with server-sent events only: send Accept: text/event-stream.`), 406);
      }
      if (route.ndjson) return await ndjsonExport(route.document, variables, operations, route.ndjson.filename, request.signal);
      const result = await operations.execute(route.document, variables);
      if (result.errors?.length) return errorsResponse(result.errors);
      const reply = route.reply(result.data);
      return jsonResponse(route.bare ? reply.data : success(reply.status, reply.detail, reply.data), reply.status);
    },
  };
}
