// Reading a REST request's JSON body within the size limit, with an honest
// status for each way it can be wrong (415, 413, 400).
import { AppError } from '../errors.ts';
import { camelCase } from './envelope.ts';

/** The body as text, refused with 413 as soon as it exceeds maxBytes (declared or streamed). */
export async function readText(request: Request, maxBytes: number): Promise<string> {
  const tooLarge = () =>
    new AppError('PAYLOAD_TOO_LARGE', `The request body is larger than the limit of ${maxBytes} bytes; send less.`);
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The body as an object whose top-level keys are camelCase (`default_tasks`
 * becomes `defaultTasks`); nested values such as metadata and traits are kept
 * as sent.
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<Record<string, unknown>> {
  const type = request.headers.get('content-type');
  const text = await readText(request, maxBytes);
  if (text.trim() === '') {
    throw new AppError('BAD_REQUEST', 'The request body is empty; send a JSON object with Content-Type: application/json.');
  }
  if (type !== null && !/^application\/(.+\+)?json\s*(;|$)/i.test(type)) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${type.split(';')[0]} is not supported here; send JSON with Content-Type: application/json.`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new AppError('BAD_REQUEST', `Malformed JSON in the request body (${(error as Error).message}).`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AppError('BAD_REQUEST', 'The request body must be a JSON object, such as {"name": "Support Bot"}.');
  }
  return Object.fromEntries(Object.entries(body).map(([key, value]) => [camelCase(key), value]));
}
