// Public entry of file extraction. Uploaded files are untrusted: parsers for
// PDF, DOCX and HTML can be driven into huge allocations or endless work, so
// every file is parsed in its own throwaway process (sandbox.ts), inside a
// worker thread with a capped heap (worker.ts), under a deadline. A bomb kills
// its sandbox and fails its own job, nothing else.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { unpackPassages, type Passage } from '../chunk.ts';
import type { SandboxAnswer } from './sandbox.ts';
import { assertDeclaredType } from './sniff.ts';
import {
  ExtractionError,
  isFileType,
  unsupportedType,
  type Extracted,
  type ExtractionLimits,
  type FileType,
} from './types.ts';
import type { WorkerInput } from './worker.ts';

export { FILE_TYPES, ExtractionError, parseFileType, tooManyPages, unsupportedType } from './types.ts';
export type { Extracted, ExtractionErrorCode, ExtractionLimits, FileType } from './types.ts';
export { assertDeclaredType, sniffFileType, type Sniffed, type SniffedType } from './sniff.ts';

// Node runs the .ts file itself (type stripping), also under vitest, whose
// transform only ever sees this module, never the sandbox or worker code.
const SANDBOX = fileURLToPath(new URL('./sandbox.ts', import.meta.url));

export async function extractText(
  bytes: Uint8Array,
  declaredType: FileType,
  limits: ExtractionLimits,
): Promise<Extracted> {
  const answer = await runSandbox(checkedInput('extract', bytes, declaredType, limits));
  if (answer.kind !== 'done') throw new Error(`File extraction is broken: it answered ${answer.kind}.`);
  return answer.result;
}

/**
 * The file's passages (see chunkText), extracted and split in the sandbox: for
 * a large file, splitting is the other half of the work, and it would hold the
 * gateway's event loop.
 */
export async function extractPassages(
  bytes: Uint8Array,
  declaredType: FileType,
  limits: ExtractionLimits,
): Promise<{ passages: Passage[]; title?: string; pages?: number }> {
  const answer = await runSandbox(checkedInput('passages', bytes, declaredType, limits));
  if (answer.kind !== 'passages') throw new Error(`File extraction is broken: it answered ${answer.kind}.`);
  return { passages: unpackPassages(answer.passages), title: answer.title, pages: answer.pages };
}

/** The sandbox's input, once the file is known to be of a type we read, not empty, and what it says it is. */
function checkedInput(task: WorkerInput['task'], bytes: Uint8Array, declaredType: FileType, limits: ExtractionLimits): WorkerInput {
  // The type may come straight from a request body, whatever TypeScript says.
  if (!isFileType(declaredType)) throw unsupportedType(String(declaredType));
  if (bytes.length === 0) throw new ExtractionError('NO_TEXT', 'The file is empty.');
  assertDeclaredType(bytes, declaredType);
  return { task, bytes, type: declaredType, limits };
}

/**
 * The page count of a file whose type has pages (PDF; null for the others), in
 * the same sandbox as extraction: it reads only the page tree, so an upload can
 * be refused over the page limit before anything is stored.
 */
export async function countPages(bytes: Uint8Array, declaredType: FileType, limits: ExtractionLimits): Promise<number | null> {
  if (declaredType !== 'pdf') return null;
  const answer = await runSandbox({ task: 'count-pages', bytes, type: declaredType, limits });
  if (answer.kind !== 'pages') throw new Error(`File extraction is broken: it answered ${answer.kind}.`);
  return answer.pages;
}

type Finished = Extract<SandboxAnswer, { kind: 'done' | 'passages' | 'pages' }>;

function runSandbox(input: WorkerInput): Promise<Finished> {
  const { timeoutMs, maxMemoryMb } = input.limits;
  const tooComplex = () =>
    new ExtractionError(
      'TOO_COMPLEX',
      `The file could not be processed within ${formatDuration(timeoutMs)} / ${maxMemoryMb} MB; it may be damaged or too complex.`,
    );

  return new Promise<Finished>((resolve, reject) => {
    const child = fork(SANDBOX, [], {
      // A --max-old-space-size inherited from the command line or NODE_OPTIONS
      // overrides a worker's resourceLimits (nodejs/node#43991), and vitest's
      // flags have no business there either.
      execArgv: [],
      env: withoutNodeOptions(process.env),
      serialization: 'advanced', // carries the Uint8Array as is
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
      child.kill('SIGKILL'); // it is done or must stop; nothing to wait for
    };
    // The clock includes start-up (~0.15 s), which a file cannot influence.
    const timer = setTimeout(() => finish(() => reject(tooComplex())), timeoutMs);

    child.on('message', (answer: SandboxAnswer) => {
      if (answer.kind === 'done' || answer.kind === 'passages' || answer.kind === 'pages') finish(() => resolve(answer));
      else if (answer.kind === 'failed') finish(() => reject(new ExtractionError(answer.code, answer.message)));
      else if (answer.kind === 'too-complex') finish(() => reject(tooComplex()));
      else finish(() => reject(new Error(`File extraction is broken: ${answer.message}`)));
    });
    child.on('error', (error) => finish(() => reject(error)));
    child.on('exit', (code, signal) => {
      // V8 aborts on some heap exhaustion, the kernel kills on memory pressure.
      if (signal !== null || code === 134) return finish(() => reject(tooComplex()));
      finish(() => reject(new Error(`The extraction sandbox exited (code ${code}) without an answer: ${stderr}`)));
    });
    child.send(input);
  });
}

function withoutNodeOptions(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _, ...rest } = env;
  return rest;
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}
