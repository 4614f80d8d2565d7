// Reading a REST request's JSON body within the size limit, with an honest
// status for each way it can be wrong (415, 413, 400).
import { Busboy, type BusboyInstance } from '@fastify/busboy';
import { AppError } from '../errors.ts';
import { camelCase } from './envelope.ts';

const tooLargeDetail = (maxBytes: number) => `The request body is larger than the limit of ${maxBytes} bytes; send less.`;

/**
 * Whether the body's declared length (Content-Length) is within `maxBytes`:
 * true when declared and within it, false when none is declared (a chunked
 * body, to be read with readBytes); 413 when declared larger. The HTTP parser
 * never hands on more than a declared length, so a body within it needs no
 * counting as it is read.
 */
export function declaredWithin(request: Request, maxBytes: number, limitDetail = tooLargeDetail(maxBytes)): boolean {
  const header = request.headers.get('content-length');
  if (header === null || !/^\d+$/.test(header)) return false;
  if (Number(header) > maxBytes) throw new AppError('PAYLOAD_TOO_LARGE', limitDetail);
  return true;
}

/** The body's bytes, refused with 413 as soon as they exceed maxBytes (declared or streamed). */
export async function readBytes(request: Request, maxBytes: number, limitDetail = tooLargeDetail(maxBytes)): Promise<Uint8Array<ArrayBuffer>> {
  const tooLarge = () => new AppError('PAYLOAD_TOO_LARGE', limitDetail);
  declaredWithin(request, maxBytes, limitDetail);
  if (!request.body) return new Uint8Array(0);
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
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

export async function readText(request: Request, maxBytes: number): Promise<string> {
  return Buffer.from(await readBytes(request, maxBytes)).toString('utf8');
}

/**
 * A multipart form (file uploads) as an object with camelCase keys: text
 * fields as strings, files as File objects. Parsed as it streams in
 * (@fastify/busboy): the file's bytes are held once, as they arrive, instead of
 * the whole body read, copied whole, then parsed into another copy; a file over
 * the limit is refused (413) as soon as it passes it.
 */
export async function readMultipartBody(request: Request, uploadMaxBytes: number): Promise<Record<string, unknown>> {
  const type = request.headers.get('content-type') ?? '';
  if (!/^multipart\/form-data\s*;/i.test(type)) {
    const sent = type.split(';')[0].trim() || '(none)';
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${sent} is not supported here; send a multipart/form-data form (curl -F).`);
  }
  const tooLarge = () => new AppError('PAYLOAD_TOO_LARGE', `The upload is larger than the limit of ${uploadMaxBytes} bytes (UPLOAD_MAX_BYTES); send a smaller file.`);
  const unreadable = () => new AppError('BAD_REQUEST', 'The multipart form could not be read; check its boundary and encoding.');
  // A form carries the file plus a few short fields.
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > uploadMaxBytes + 64 * 1024) throw tooLarge();
  let parser: BusboyInstance;
  try {
    parser = new Busboy({ headers: { 'content-type': type }, limits: { fileSize: uploadMaxBytes, files: 4, fields: 50, fieldSize: 64 * 1024, parts: 60 } });
  } catch {
    throw unreadable(); // no boundary
  }
  const body: Record<string, unknown> = {};
  const files: Promise<void>[] = [];
  // The first thing wrong ends the reading: a file past the limit is refused before the rest arrives.
  let failure: AppError | undefined;
  let fail!: (error: AppError) => void;
  const parsed = new Promise<void>((resolve, reject) => {
    fail = (error) => {
      failure ??= error;
      reject(failure);
    };
    parser.on('field', (name, value) => (body[camelCase(name)] = value));
    parser.on('file', (name, stream, filename, _encoding, mimeType) => {
      const chunks: Buffer<ArrayBuffer>[] = [];
      files.push(
        new Promise<void>((done) => {
          stream.on('data', (chunk: Buffer<ArrayBuffer>) => chunks.push(chunk));
          stream.on('limit', () => fail(tooLarge()));
          stream.on('error', () => fail(unreadable()));
          stream.on('end', () => {
            body[camelCase(name)] = new File(chunks, filename ?? '', { type: mimeType });
            done();
          });
        }),
      );
    });
    parser.on('finish', resolve);
    parser.on('error', () => fail(unreadable()));
  });
  // Fed chunk by chunk: the node adapter's body is a ReadableStream of its own, which Readable.fromWeb refuses.
  const reader = request.body?.getReader();
  const feed = (async () => {
    while (!failure) {
      const chunk = reader ? await reader.read() : { done: true as const, value: undefined };
      if (chunk.done) return void parser.end();
      if (!parser.write(chunk.value)) await new Promise((resolve) => parser.once('drain', resolve));
    }
  })();
  try {
    await Promise.all([feed, parsed]);
    await Promise.all(files);
  } catch (error) {
    // Stop reading what the client still sends; the connection is closed after a 413 (the edge says so).
    await reader?.cancel().catch(() => {});
    parser.destroy();
    throw error instanceof AppError ? error : unreadable();
  }
  return body;
}

/**
 * The body as an object whose top-level keys are camelCase (`default_tasks`
 * becomes `defaultTasks`); nested values such as metadata and traits are kept
 * as sent.
 */
export async function readJsonBody(request: Request, maxBytes: number, { optional = false } = {}): Promise<Record<string, unknown>> {
  const type = request.headers.get('content-type');
  const text = await readText(request, maxBytes);
  // A body that may be left out: nothing sent reads as an empty object.
  if (text.trim() === '' && optional) return {};
  if (text.trim() === '') {
    throw new AppError('BAD_REQUEST', 'The request body is empty; send a JSON object with Content-Type: application/json.');
  }
  if (type !== null && !/^application\/(.+\+)?json\s*(;|$)/i.test(type)) {
    const sent = type.split(';')[0].trim() || '(empty)';
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${sent} is not supported here; send JSON with Content-Type: application/json.`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new AppError('BAD_REQUEST', `Malformed JSON in the request body (${(error as Error).message}).`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    const sent = Array.isArray(body) ? 'a list' : body === null ? 'null' : `a ${typeof body}`;
    throw new AppError('BAD_REQUEST', `The request body must be a JSON object ({"field": value, ...}), not ${sent}.`);
  }
  return Object.fromEntries(Object.entries(body).map(([key, value]) => [camelCase(key), value]));
}
