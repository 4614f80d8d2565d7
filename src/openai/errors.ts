// Errors of the OpenAI-compatible API in OpenAI's own shape,
//   {"error": {"message": "...", "type": "...", "param": null, "code": "..."}}
// with the status our error code maps to (src/errors.ts), so that the openai
// SDK raises the matching class (AuthenticationError, NotFoundError,
// RateLimitError...) and clients that read `type` or `code` understand it.
import { AppError, internalErrorDetail, type ErrorCodeName } from '../errors.ts';
import { jsonResponse } from '../rest/envelope.ts';

export type OpenAiErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

/** OpenAI's `type` and `code` for each of our codes, as OpenAI itself answers those cases. */
const NAMES: Record<ErrorCodeName, { type: string; code: string }> = {
  BAD_REQUEST: { type: 'invalid_request_error', code: 'bad_request' },
  UNAUTHENTICATED: { type: 'invalid_request_error', code: 'invalid_api_key' },
  FORBIDDEN: { type: 'invalid_request_error', code: 'forbidden' },
  NOT_FOUND: { type: 'invalid_request_error', code: 'not_found' },
  METHOD_NOT_ALLOWED: { type: 'invalid_request_error', code: 'method_not_allowed' },
  NOT_ACCEPTABLE: { type: 'invalid_request_error', code: 'not_acceptable' },
  CONFLICT: { type: 'invalid_request_error', code: 'conflict' },
  GONE: { type: 'invalid_request_error', code: 'gone' },
  PAYLOAD_TOO_LARGE: { type: 'invalid_request_error', code: 'request_too_large' },
  UNSUPPORTED_MEDIA_TYPE: { type: 'invalid_request_error', code: 'unsupported_media_type' },
  VALIDATION_FAILED: { type: 'invalid_request_error', code: 'invalid_value' },
  RATE_LIMITED: { type: 'requests', code: 'rate_limit_exceeded' },
  MODEL_UNAVAILABLE: { type: 'server_error', code: 'model_unavailable' },
  OVERLOADED: { type: 'server_error', code: 'overloaded' },
  SERVER_STOPPING: { type: 'server_error', code: 'server_stopping' },
  UNAVAILABLE: { type: 'server_error', code: 'unavailable' },
};

/** A refusal that names the request field at fault (`param`) or carries OpenAI's own code for it. */
export class OpenAiRefusal extends AppError {
  readonly openai: { param?: string; code?: string };

  constructor(code: ErrorCodeName, message: string, openai: { param?: string; code?: string }) {
    super(code, message);
    this.openai = openai;
  }
}

/** The model a request named is not an active assistant of the caller's organization. */
export const modelNotFound = (model: string) =>
  new OpenAiRefusal(
    'NOT_FOUND',
    `The model ${JSON.stringify(model)} does not exist: models are the ids of your organization's active assistants, listed by GET /v1/models.`,
    { param: 'model', code: 'model_not_found' },
  );

export function openAiErrorBody(error: AppError): OpenAiErrorBody {
  const names = NAMES[error.extensions.code] ?? { type: 'server_error', code: 'internal_error' };
  const field = error.extensions.errors?.[0]?.field;
  const own = error instanceof OpenAiRefusal ? error.openai : {};
  return {
    error: {
      message: error.message,
      type: names.type,
      param: own.param ?? (field && field !== 'input' ? field : null),
      code: own.code ?? names.code,
    },
  };
}

/** The error as an HTTP response, with its status and headers (Retry-After on 429 and 503). */
export function openAiErrorResponse(error: AppError): Response {
  const { status, headers } = error.extensions.http;
  return jsonResponse(openAiErrorBody(error), status, headers);
}

/** A failure of ours after a stream began (before, the edge answers the 500). */
export const internalErrorBody = (requestId: string): OpenAiErrorBody => ({
  error: { message: internalErrorDetail(requestId), type: 'server_error', param: null, code: 'internal_error' },
});
