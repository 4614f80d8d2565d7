// Newline-delimited JSON for exports: one `result` of a subscription per line,
// written as it is read, so an export of any size holds one batch in memory.
// A failure after the first line ends the stream with one last line, the
// error envelope, since the status has already been sent.
import type { ExecutionResult } from 'graphql';
import { envelopeForErrors } from './envelope.ts';

type Result = ExecutionResult<{ result: unknown }>;

const encoder = new TextEncoder();
const line = (value: unknown) => encoder.encode(`${JSON.stringify(value)}\n`);

export function ndjsonResponse(first: IteratorResult<Result>, rest: AsyncIterator<Result>, filename: string, signal?: AbortSignal): Response {
  let pending: IteratorResult<Result> | null = first;
  const finish = async () => void (await rest.return?.());
  signal?.addEventListener('abort', () => void finish(), { once: true });
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = pending ?? (await rest.next());
      pending = null;
      if (next.done) return controller.close();
      if (next.value.errors?.length) {
        controller.enqueue(line(envelopeForErrors(next.value.errors)));
        await finish();
        return controller.close();
      }
      controller.enqueue(line(next.value.data!.result));
    },
    cancel: finish,
  });
  return new Response(body, {
    status: 200,
    headers: {
      'Content-Type': 'application/x-ndjson; charset=utf-8',
      'Content-Disposition': `attachment; filename="${filename}"`,
      'Cache-Control': 'no-store',
    },
  });
}
