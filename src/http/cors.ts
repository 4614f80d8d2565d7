// CORS for every endpoint. The request's origin is echoed (never `*`, since
// credentials are allowed), either any origin or only those in CORS_ORIGINS.
const ALLOWED_HEADERS = 'Authorization, Content-Type, Accept, X-API-Key, X-API-Secret, X-Request-Id';
const EXPOSED_HEADERS = [
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
  'RateLimit-Policy',
  'RateLimit',
  'Retry-After',
  'X-Request-Id',
].join(', ');
const PREFLIGHT_MAX_AGE = '600';

export function createCors(allowedOrigins: string[] | undefined) {
  const allowed = allowedOrigins ? new Set(allowedOrigins) : null;
  const isAllowed = (origin: string | null): origin is string => origin !== null && (allowed === null || allowed.has(origin));

  /** Headers to add to a response for this request's origin (none for a foreign or missing origin). */
  function headers(origin: string | null): Record<string, string> {
    if (!isAllowed(origin)) return { Vary: 'Origin' };
    return {
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Allow-Credentials': 'true',
      'Access-Control-Expose-Headers': EXPOSED_HEADERS,
      Vary: 'Origin',
    };
  }

  return {
    isAllowed,
    headers,

    /** The answer to an OPTIONS preflight; it is not counted against any limit. */
    preflight(request: Request): Response {
      const origin = request.headers.get('origin');
      if (!isAllowed(origin)) return new Response(null, { status: 204, headers: { Vary: 'Origin' } });
      return new Response(null, {
        status: 204,
        headers: {
          ...headers(origin),
          'Access-Control-Allow-Methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
          'Access-Control-Allow-Headers': request.headers.get('access-control-request-headers') ?? ALLOWED_HEADERS,
          'Access-Control-Max-Age': PREFLIGHT_MAX_AGE,
          Vary: 'Origin, Access-Control-Request-Headers',
        },
      });
    },
  };
}

export type Cors = ReturnType<typeof createCors>;
