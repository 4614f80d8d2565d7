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
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  VALIDATION_FAILED: 422,
  RATE_LIMITED: 429,
  MODEL_UNAVAILABLE: 503,
  OVERLOADED: 503,
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

/**
 * A failure the client can understand and act on. Its message is shown as is
 * (Yoga does not mask GraphQLErrors), so it must say what to fix.
 */
export class AppError extends GraphQLError {
  declare readonly extensions: AppErrorExtensions;

  constructor(code: ErrorCodeName, message: string, extra: Omit<AppErrorExtensions, 'code'> = {}) {
    // The name stays GraphQLError: Yoga's masking recognises safe errors by it.
    super(message, { extensions: { code, ...extra } });
  }
}

export function statusOf(code: string | undefined): number {
  return code !== undefined && code in ErrorCode ? ErrorCode[code as ErrorCodeName] : 500;
}

export function notFound(what: string, id: string): AppError {
  return new AppError('NOT_FOUND', `${what} ${JSON.stringify(id)} was not found.`);
}

export function invalid(errors: FieldError[]): AppError {
  const summary = errors.map((e) => `${e.field} ${e.message}`).join('; ');
  return new AppError('VALIDATION_FAILED', `Invalid input: ${summary}.`, { errors });
}
