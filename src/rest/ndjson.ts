// Newline-delimited JSON for exports: one `result` of a subscription per line,
// written as it is read, so an export of any size holds one batch in memory.
// A failure after the first line ends the stream with one last line, the
// error envelope, since the status has already been sent.
import type { ExecutionResult } from 'graphql';
import { streamedBody } from '../http/streamed-body.ts';
import { envelopeForErrors } from './envelope.ts';

type Result = ExecutionResult<{ result: unknown }>;

const line = (value: unknown) => `${JSON.stringify(value)}\n`;

export function ndjsonResponse(first: IteratorResult<Result>, rest: AsyncIterator<Result>, filename: string, signal?: AbortSignal): Response {
  let pending: IteratorResult<Result> | null = first;
  let failed = false;
  const finish = async () => void (await rest.return?.());
  async function next() {
    if (failed) return null;
    const item = pending ?? (await rest.next());
    pending = null;
    if (item.done) return null;
    if (!item.value.errors?.length) return line(item.value.data!.result);
    failed = true;
    await finish();
    return line(envelopeForErrors(item.value.errors));
  }
  const body = streamedBody({ next, cancel: finish }, signal);
  return new Response(body, {
    status: 200,
    headers: {
      'Content-Type': 'application/x-ndjson; charset=utf-8',
      'Content-Disposition': `attachment; filename="${filename}"`,
      'Cache-Control': 'no-store',
    },
  });
}
