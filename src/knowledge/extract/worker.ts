// Entry point of the parsing worker thread, started by sandbox.ts. One worker
// per file: a fresh heap with a cap, thrown away afterwards.
import { parentPort, workerData } from 'node:worker_threads';
import { chunkText, packPassages, type PackedPassages } from '../chunk.ts';
import { asExtractionError, countPages, parseFile } from './parse.ts';
import type { Extracted, ExtractionErrorCode, ExtractionLimits, FileType } from './types.ts';

/** `passages` extracts and splits into passages here, off the gateway's event loop (19 MB of text took it half a second or more). */
export type WorkerInput = { task: 'extract' | 'passages' | 'count-pages'; bytes: Uint8Array; type: FileType; limits: ExtractionLimits };
export type WorkerMessage =
  | { kind: 'started' }
  | { kind: 'done'; result: Extracted }
  | { kind: 'passages'; passages: PackedPassages; title?: string; pages?: number }
  | { kind: 'pages'; pages: number | null }
  | { kind: 'failed'; code: ExtractionErrorCode; message: string };

const port = parentPort;
if (port === null) throw new Error('worker.ts runs only as a worker thread (see sandbox.ts)');
const post = (message: WorkerMessage) => port.postMessage(message);

// Reaching this line means the code loaded; a crash from here on is the file's.
post({ kind: 'started' });
const { task, bytes, type, limits } = workerData as WorkerInput;
try {
  if (task === 'count-pages') post({ kind: 'pages', pages: await countPages(bytes, type) });
  else if (task === 'passages') {
    const { text, title, pages } = await parseFile(bytes, type, limits);
    post({ kind: 'passages', passages: packPassages(chunkText(text)), title, pages });
  } else post({ kind: 'done', result: await parseFile(bytes, type, limits) });
} catch (error) {
  const { code, message } = asExtractionError(error, type);
  post({ kind: 'failed', code, message });
}
