// The edge every HTTP request passes, whatever surface serves it: a request
// id, CORS, admission (who is calling, counted against the budgets that apply)
// for the surfaces that ask for it, the rate-limit headers, and the one answer
// to an unexpected failure. Each surface (GraphQL, REST, the index routes) is a
// small adapter that renders its own errors in its own format.
import { STATUS_CODES } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { EdgeContext } from '../context.ts';
import { AppError, internalErrorDetail } from '../errors.ts';
import { failure, jsonResponse } from '../rest/envelope.ts';
import type { ServerContext } from '../yoga.ts';
import type { AuthOutcome } from './auth-failures.ts';
import type { ClientAddressOf } from './client-address.ts';
import type { Cors } from './cors.ts';
import { credentialsFrom, type Admission, type Gate } from './gate.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from './metrics.ts';
import { rateLimitHeaders, RateLimitedError, type RateLimits, type RateLimitState } from './rate-limit.ts';

export type RequestContext = {
  url: URL;
  requestId: string;
  clientAddress: string;
  serverContext: ServerContext;
  /** Set once the request is admitted with credentials, for the access log. */
  organizationId?: string;
};

/** What a surface's operations run with once the request is admitted. */
export type AdmittedContext = EdgeContext & ServerContext;

export type Surface = {
  /** Whether this surface serves the request's path (the first that does, serves it). */
  matches(url: URL): boolean;
  /** The route's name in metrics: a path pattern, never anything a client chose (it would grow without bound). */
  route(request: Request, url: URL): string;
  /**
   * Answers the request. `admit` authenticates it and counts it against its
   * budgets (throwing 401 or 429 as an AppError); a surface calls it once it
   * knows the request is one it serves.
   */
  serve(request: Request, context: RequestContext, admit: () => Promise<AdmittedContext>): Promise<Response>;
  /** An AppError that escaped serve (a refused admission, a body too large) in this surface's format. */
  renderError(error: AppError): Response;
};

export type EdgeOptions = {
  cors: Cors;
  gate: Gate;
  rateLimits: RateLimits;
  clientAddressOf: ClientAddressOf;
  surfaces: Surface[];
  metrics: Pick<Metrics, 'observeRequest'>;
  logger: Logger;
};

/** Adds the fields to Vary, keeping those already there. */
function addVary(headers: Headers, fields: string) {
  const present = (headers.get('vary') ?? '').split(',').map((field) => field.trim()).filter(Boolean);
  const known = new Set(present.map((field) => field.toLowerCase()));
  const added = fields.split(',').map((field) => field.trim()).filter((field) => field && !known.has(field.toLowerCase()));
  headers.set('Vary', [...present, ...added].join(', '));
}

export function createEdge({ cors, gate, rateLimits, clientAddressOf, surfaces, metrics, logger }: EdgeOptions) {
  /** Runs a surface; `counted` collects the budgets the request was counted against. */
  async function serveThrough(surface: Surface, request: Request, context: RequestContext, counted: RateLimitState[]): Promise<Response> {
    let admission: Admission | undefined;
    const authOutcome: AuthOutcome = { unauthenticated: false };
    const admit = async (): Promise<AdmittedContext> => {
      admission = await gate.admit(credentialsFrom(request.headers), context.clientAddress);
      context.organizationId = admission.viewer?.organizationId;
      return {
        viewer: admission.viewer,
        requestId: context.requestId,
        signal: request.signal,
        origin: request.headers.get('origin'),
        chargeWidget: admission.chargeWidget,
        authOutcome,
        req: context.serverContext.req,
      };
    };
    let response: Response;
    try {
      response = await surface.serve(request, context, admit);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      if (error instanceof RateLimitedError && !admission) counted.push(error.state);
      response = surface.renderError(error);
    }
    // Widget tokens are counted while their operation runs: the budgets are known only now.
    if (admission) counted.push(...admission.rateLimits);
    if (authOutcome.unauthenticated) {
      // An anonymous request refused as UNAUTHENTICATED is a failed authentication of its address.
      try {
        await rateLimits.chargeFailedAuth(context.clientAddress);
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        await response.body?.cancel();
        counted.splice(0, counted.length, error.state);
        return surface.renderError(error);
      }
    }
    return response;
  }

  return async function handle(request: Request, serverContext: ServerContext): Promise<Response> {
    if (request.method === 'OPTIONS') return cors.preflight(request);
    const started = performance.now();
    const requestId = request.headers.get('x-request-id')?.slice(0, 100) || randomUUID();
    const url = new URL(request.url);
    const context: RequestContext = { url, requestId, clientAddress: clientAddressOf(serverContext.req), serverContext };
    const counted: RateLimitState[] = [];
    let response: Response;
    const surface = surfaces.find((candidate) => candidate.matches(url));
    try {
      if (!surface) throw new Error(`No surface serves ${url.pathname}`);
      response = await serveThrough(surface, request, context, counted);
    } catch (error) {
      logger.error({ request_id: requestId, method: request.method, path: url.pathname, err: error }, 'request failed');
      response = jsonResponse(failure(500, internalErrorDetail(requestId)), 500);
    }
    const headers = new Headers(response.headers);
    for (const [name, value] of Object.entries(cors.headers(request.headers.get('origin')))) {
      // A surface's own Vary (Accept-Encoding, for the widget script) stays beside CORS's Origin.
      if (name === 'Vary') addVary(headers, value);
      else headers.set(name, value);
    }
    for (const [name, value] of Object.entries(rateLimitHeaders(counted))) headers.set(name, value);
    headers.set('X-Request-Id', requestId);
    // A body refused for its size was not read to the end: the connection cannot carry another request.
    if (response.status === 413) headers.set('Connection', 'close');
    const route = surface?.route(request, url) ?? 'none';
    const ms = performance.now() - started;
    metrics.observeRequest(route, request.method, response.status, ms / 1000);
    // The access line: which route (its pattern), who, how it ended. Never the path's ids or a header.
    logger[response.status >= 500 ? 'warn' : 'info'](
      { request_id: requestId, method: request.method, route, status: response.status, ms: Math.round(ms * 10) / 10, organization_id: context.organizationId },
      'request',
    );
    // Node writes the reason phrase it is given; an empty one reads as a broken status line.
    return new Response(response.body, { status: response.status, statusText: STATUS_CODES[response.status], headers });
  };
}
