// The documented reply shapes of the REST API:
//   success {"status":"success","status_code":N,"detail":"...","data":...}
//   error   {"status":"error","status_code":N,"detail":"...","data":null}
// (validation errors carry data: {"errors":[{"field","message"}]}).
import type { GraphQLFormattedError } from 'graphql';
import { httpOf, internalErrorDetail, statusOf, type FieldError } from '../errors.ts';

export type Envelope = {
  status: 'success' | 'error';
  status_code: number;
  detail: string;
  data: unknown;
};

export const success = (status: number, detail: string, data: unknown): Envelope => ({
  status: 'success',
  status_code: status,
  detail,
  data,
});

export const failure = (status: number, detail: string, data: unknown = null): Envelope => ({
  status: 'error',
  status_code: status,
  detail,
  data,
});

export function jsonResponse(body: unknown, status: number, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', ...headers },
  });
}

/** GraphQL names input fields in camelCase; the REST API documents them in snake_case. */
export const snakeCase = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
export const camelCase = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

const snakePath = (path: string) => path.split('.').map(snakeCase).join('.');

// graphql-js reports input coercion failures only as text, for example
//   Variable "$input" got invalid value 5 at "input.name"; String cannot represent a non string value: 5
//   Variable "$input" got invalid value {...}; Field "name" of required type "String!" was not provided.
//   Variable "$input" got invalid value {...}; Field "colour" is not defined by type "CreateAssistantInput".
// These patterns turn that text into the field it names and a short reason.
const COERCION = /^Variable "\$(\w+)" got invalid value .*?(?: at "([\w.[\]]+)")?; (.*)$/s;

function coercionFieldError(message: string): FieldError | null {
  const match = COERCION.exec(message);
  if (!match) return null;
  const [, variable, at, reason] = match;
  const base = (at ?? variable).replace(/\[(\d+)\]/g, '.$1').split('.');
  // Variables named input stand for the whole body; others are path or query parameters.
  if (base[0] === 'input') base.shift();
  let field = base.join('.');
  let text = reason;
  const missing = /^Field "(\w+)" of required type "([^"]+)" was not provided\.$/.exec(reason);
  const unknown = /^Field "(\w+)" is not defined by type "\w+"\.?/.exec(reason);
  if (missing) {
    field = [field, missing[1]].filter(Boolean).join('.');
    text = 'is required';
  } else if (unknown) {
    field = [field, unknown[1]].filter(Boolean).join('.');
    text = 'is not a field that can be set here';
  } else {
    text = describeReason(reason);
  }
  return { field: snakePath(field || variable), message: text };
}

const REASONS: Array<[RegExp, string]> = [
  [/^String cannot represent/, 'must be a string'],
  [/^Int cannot represent non 32-bit/, 'must be a whole number between -2147483648 and 2147483647'],
  [/^Int cannot represent/, 'must be a whole number'],
  [/^Float cannot represent/, 'must be a number'],
  [/^Boolean cannot represent/, 'must be true or false'],
  [/^ID cannot represent/, 'must be a string id'],
  [/must be a JSON object/, 'must be a JSON object'],
  [/must be an ISO 8601/, 'must be an ISO 8601 date-time string'],
  [/^Expected type "[^"]+" to be an object/, 'must be a JSON object'],
  // A required value sent as null, or a route variable the body left out.
  [/^Expected non-nullable type "[^"]+" not to be null/, 'is required'],
];

function describeReason(reason: string): string {
  for (const [pattern, text] of REASONS) if (pattern.test(reason)) return text;
  return `is invalid (${reason})`;
}

/** The error envelope and status for the errors of a GraphQL result (the first decides, except that input errors are reported together). */
export function envelopeForErrors(errors: readonly GraphQLFormattedError[]): Envelope {
  const fieldErrors = errors.map((error) => (error.extensions?.code ? null : coercionFieldError(error.message)));
  if (fieldErrors.every((e) => e !== null)) {
    const list = fieldErrors as FieldError[];
    return failure(422, `Invalid input: ${list.map((e) => `${e.field} ${e.message}`).join('; ')}.`, { errors: list });
  }
  return envelopeForError(errors[0]);
}

/** The error envelope and status for a GraphQL error. */
export function envelopeForError(error: GraphQLFormattedError): Envelope {
  const code = error.extensions?.code as string | undefined;
  const fieldErrors = error.extensions?.errors as FieldError[] | undefined;
  if (code === 'VALIDATION_FAILED' && fieldErrors) {
    const errors = fieldErrors.map((e) => ({ field: snakePath(e.field), message: e.message }));
    return failure(422, `Invalid input: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}.`, { errors });
  }
  if (code === undefined) {
    const fieldError = coercionFieldError(error.message);
    if (fieldError) {
      return failure(422, `Invalid input: ${fieldError.field} ${fieldError.message}.`, { errors: [fieldError] });
    }
  }
  const status = statusOf(code);
  if (status === 500) return failure(500, internalErrorDetail());
  return failure(status, error.message);
}

type ErrorLike = { message: string; extensions?: Record<string, unknown> };

/** Errors (of a GraphQL result, or one AppError) as the error envelope, with Retry-After where a retry can help. */
export function errorsResponse(errors: ReadonlyArray<ErrorLike>): Response {
  const envelope = envelopeForErrors(errors.map((error) => ({ message: error.message, extensions: error.extensions })));
  const { headers } = httpOf(errors[0].extensions?.code as string | undefined, errors[0].extensions?.retryAfter);
  return jsonResponse(envelope, envelope.status_code, headers);
}

export const errorResponse = (error: ErrorLike): Response => errorsResponse([error]);
