// Expected failures and the HTTP status each one maps to. Services throw
// AppError; GraphQL shows its code in `extensions.code`, the REST layer turns
// the code into a status and the error envelope. Anything else is masked.
import { GraphQLError } from 'graphql';

export const ErrorCode = {
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  NOT_ACCEPTABLE: 406,
  CONFLICT: 409,
  GONE: 410,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  VALIDATION_FAILED: 422,
  RATE_LIMITED: 429,
  MODEL_UNAVAILABLE: 503,
  OVERLOADED: 503,
  SERVER_STOPPING: 503,
  /** Something this instance cannot serve now, that another one (or a retry) can. */
  UNAVAILABLE: 503,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;

export type FieldError = { field: string; message: string };

export type AppErrorExtensions = {
  code: ErrorCodeName;
  /** Only for VALIDATION_FAILED: which input fields are wrong and why. */
  errors?: FieldError[];
  /** Seconds after which a retry may succeed (429, 503). */
  retryAfter?: number;
  /** The HTTP status Yoga answers with, where the GraphQL-over-HTTP default (200 for application/json) would hide the refusal. */
  http?: { status: number };
};

export type HttpMapping = { status: number; headers?: Record<string, string> };

/**
 * A failure the client can understand and act on. Its message is shown as is
 * (Yoga does not mask GraphQLErrors), so it must say what to fix. It carries
 * its HTTP status and headers in `extensions.http`, which Yoga answers with
 * (and leaves out of the body), so GraphQL over HTTP gets the status REST does.
 */
export class AppError extends GraphQLError {
  declare readonly extensions: AppErrorExtensions & { http: HttpMapping };

  constructor(code: ErrorCodeName, message: string, extra: Omit<AppErrorExtensions, 'code'> = {}) {
    // The name stays GraphQLError: Yoga's masking recognises safe errors by it.
    super(message, { extensions: { code, ...extra, http: extra.http ?? httpOf(code, extra.retryAfter) } });
  }
}

export function statusOf(code: string | undefined): number {
  return code !== undefined && code in ErrorCode ? ErrorCode[code as ErrorCodeName] : 500;
}

/** The one mapping from an error's code to its HTTP status and headers, for every surface. */
export function httpOf(code: string | undefined, retryAfter?: unknown): HttpMapping {
  const status = statusOf(code);
  return typeof retryAfter === 'number' && retryAfter > 0 ? { status, headers: { 'Retry-After': String(retryAfter) } } : { status };
}

/** The detail of every 500: nothing of the cause, which is logged under the request id. */
export function internalErrorDetail(requestId?: string): string {
  return `Something went wrong on our side${requestId ? ` (request ${requestId})` : ''}; it has been logged. Please retry or report it.`;
}

export function notFound(what: string, id: string): AppError {
  return new AppError('NOT_FOUND', `${what} ${JSON.stringify(id)} was not found.`);
}

export function invalid(errors: FieldError[]): AppError {
  const summary = errors.map((e) => `${e.field} ${e.message}`).join('; ');
  return new AppError('VALIDATION_FAILED', `Invalid input: ${summary}.`, { errors });
}
