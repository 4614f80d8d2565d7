// Public entry of file extraction. Uploaded files are untrusted: parsers for
// PDF, DOCX and HTML can be driven into huge allocations or endless work, so
// every file is parsed in its own worker thread with a capped heap and a
// deadline. A bomb kills its worker and fails its own job, nothing else.
import { Worker } from 'node:worker_threads';
import { assertDeclaredType } from './sniff.ts';
import {
  ExtractionError,
  isFileType,
  unsupportedType,
  type Extracted,
  type ExtractionLimits,
  type FileType,
} from './types.ts';
import type { WorkerInput, WorkerMessage } from './worker.ts';

export { FILE_TYPES, ExtractionError, parseFileType, unsupportedType } from './types.ts';
export type { Extracted, ExtractionErrorCode, ExtractionLimits, FileType } from './types.ts';
export { sniffFileType, type Sniffed, type SniffedType } from './sniff.ts';

// Node loads the worker itself, type-stripping the .ts file, also under
// vitest (whose transform never sees worker code). Kept out of the Worker
// constructor call so bundlers' `new Worker(new URL(…))` rewriting leaves it alone.
const WORKER_URL = new URL('./worker.ts', import.meta.url);

export async function extractText(
  bytes: Uint8Array,
  declaredType: FileType,
  limits: ExtractionLimits,
): Promise<Extracted> {
  // The type may come straight from a request body, whatever TypeScript says.
  if (!isFileType(declaredType)) throw unsupportedType(String(declaredType));
  if (bytes.length === 0) throw new ExtractionError('NO_TEXT', 'The file is empty.');
  assertDeclaredType(bytes, declaredType);
  return runWorker({ bytes, type: declaredType, limits });
}

function runWorker(input: WorkerInput): Promise<Extracted> {
  const { timeoutMs, maxMemoryMb } = input.limits;
  const tooComplex = () =>
    new ExtractionError(
      'TOO_COMPLEX',
      `The file could not be processed within ${formatDuration(timeoutMs)} / ${maxMemoryMb} MB; it may be damaged or too complex.`,
    );

  return new Promise<Extracted>((resolve, reject) => {
    // workerData is copied, so the caller's buffer stays usable.
    const worker = new Worker(WORKER_URL, {
      workerData: input,
      resourceLimits: { maxOldGenerationSizeMb: maxMemoryMb },
    });
    let started = false;
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
      // Also frees the heap of a worker that already answered.
      void worker.terminate();
    };
    // The clock includes worker start-up (~0.1 s), which a file cannot influence.
    const timer = setTimeout(() => finish(() => reject(tooComplex())), timeoutMs);

    worker.on('message', (message: WorkerMessage) => {
      if (message.kind === 'started') started = true;
      else if (message.kind === 'done') finish(() => resolve(message.result));
      else finish(() => reject(new ExtractionError(message.code, message.message)));
    });
    worker.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') return finish(() => reject(tooComplex()));
      // Before 'started' the worker's own code failed to load: a deployment
      // problem that must not be blamed on the file.
      if (!started) return finish(() => reject(error));
      finish(() =>
        reject(new ExtractionError('UNREADABLE', `The file could not be read; it may be damaged (${error.message}).`)),
      );
    });
    worker.on('exit', (code) => {
      finish(() => reject(new Error(`The extraction worker stopped (exit code ${code}) without an answer.`)));
    });
  });
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}
